"""server-side sessions, token expiry and revocation, one rate-limit table shared by every worker

Revision ID: 0005
Revises: 0011
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_token', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('api_token', sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'user_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('user_agent', sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_hash'),
    )
    op.create_index(op.f('ix_user_session_user_id'), 'user_session', ['user_id'], unique=False)
    op.create_table(
        'rate_limit',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('window_start', sa.BigInteger(), nullable=False),
        sa.Column('window_end', sa.BigInteger(), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start'),
    )
    op.create_index(op.f('ix_rate_limit_window_end'), 'rate_limit', ['window_end'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rate_limit_window_end'), table_name='rate_limit')
    op.drop_table('rate_limit')
    op.drop_index(op.f('ix_user_session_user_id'), table_name='user_session')
    op.drop_table('user_session')
    op.drop_column('api_token', 'revoked_at')
    op.drop_column('api_token', 'expires_at')
