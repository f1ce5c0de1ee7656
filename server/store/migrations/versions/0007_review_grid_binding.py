"""review comments bound to the grid row; written reasons for grids the band cannot reach

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('review_comment', sa.Column('grid_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_review_comment_grid_id'), 'review_comment', ['grid_id'], unique=False)
    op.create_foreign_key(op.f('review_comment_grid_id_fkey'), 'review_comment', 'grid', ['grid_id'], ['id'],
                          ondelete='SET NULL')
    # Comments written before this revision were bound by label within their division: bind them to that row.
    op.execute("UPDATE review_comment c SET grid_id = g.id FROM grid g "
               "WHERE g.division_id = c.division_id AND g.label = c.grid_label")
    op.create_table('grid_exemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('proof', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.CheckConstraint('length(btrim(reason)) > 0', name='reason_not_blank'),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'returned')", name='status_known'),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grid_id')
    )
    op.create_index(op.f('ix_grid_exemption_division_id'), 'grid_exemption', ['division_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_grid_exemption_division_id'), table_name='grid_exemption')
    op.drop_table('grid_exemption')
    op.drop_constraint(op.f('review_comment_grid_id_fkey'), 'review_comment', type_='foreignkey')
    op.drop_index(op.f('ix_review_comment_grid_id'), table_name='review_comment')
    op.drop_column('review_comment', 'grid_id')
