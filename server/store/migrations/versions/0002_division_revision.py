"""division revisions (undo/redo history of drafts) and parcel adjacency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 20:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('division_revision',
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('op', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('labels', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('grids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('division_id', 'revision')
    )
    op.create_table('parcel_edge',
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('a', sa.Integer(), nullable=False),
    sa.Column('b', sa.Integer(), nullable=False),
    sa.Column('length', sa.Double(), nullable=False),
    sa.Column('barrier_length', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['atom_layer.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('layer_id', 'a', 'b')
    )


def downgrade() -> None:
    op.drop_table('parcel_edge')
    op.drop_table('division_revision')
