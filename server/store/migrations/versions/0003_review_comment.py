"""review comments, and at most one approved division in force per community and day

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 21:10:00
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table('review_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('grid_label', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('resolved', sa.Boolean(), server_default='false', nullable=False),
    sa.CheckConstraint('length(btrim(text)) > 0', name='text_not_blank'),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_review_comment_geom', 'review_comment', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_review_comment_division_id'), 'review_comment', ['division_id'], unique=False)
    # Filing rule: only one division of a community is in force on any day. server/review.py checks it
    # before committing an approval (with a clear message); this constraint makes it impossible to break
    # from anywhere else. Written by hand: autogenerate does not see exclusion constraints. btree_gist
    # gives GiST the '=' on text; it is a trusted extension (PostgreSQL 13+), so the owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_check_constraint('effective_ordered', 'division',
                               'effective_to IS NULL OR effective_from IS NULL OR effective_to >= effective_from')
    op.execute("""
        ALTER TABLE division ADD CONSTRAINT division_one_in_force EXCLUDE USING gist (
            community_code WITH =, daterange(effective_from, effective_to, '[)') WITH &&)
        WHERE (status = 'approved')""")


def downgrade() -> None:
    op.execute("ALTER TABLE division DROP CONSTRAINT IF EXISTS division_one_in_force")
    op.drop_constraint('effective_ordered', 'division', type_='check')
    op.drop_index(op.f('ix_review_comment_division_id'), table_name='review_comment')
    op.drop_geospatial_index('idx_review_comment_geom', table_name='review_comment', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('review_comment')
