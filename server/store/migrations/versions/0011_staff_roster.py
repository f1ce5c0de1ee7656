"""grid staff roster: duties, employment and dates of a person, photos, county staffing policy

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff', sa.Column('duties', sa.Text(), nullable=True))
    op.add_column('staff', sa.Column('employment', sa.String(length=16), server_default='full_time',
                                     nullable=False))
    op.add_column('staff', sa.Column('start_date', sa.Date(), nullable=True))
    op.add_column('staff', sa.Column('end_date', sa.Date(), nullable=True))
    op.create_check_constraint('employment_known', 'staff',
                               "employment IN ('full_time', 'part_time', 'volunteer')")
    op.create_check_constraint('dates_ordered', 'staff',
                               "end_date IS NULL OR start_date IS NULL OR end_date >= start_date")
    op.create_index('ix_staff_phone', 'staff', ['phone'], unique=False)
    op.add_column('staff_assignment', sa.Column('ended_reason', sa.Text(), nullable=True))
    op.create_check_constraint('dates_ordered', 'staff_assignment', "end_date IS NULL OR end_date >= start_date")
    op.create_table(
        'staff_photo',
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('jpeg', sa.LargeBinary(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('staff_id'))
    op.create_table(
        'staff_policy',
        sa.Column('county_code', sa.String(length=12), nullable=False),
        sa.Column('mask_public_phones', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('max_grids_per_person', sa.Integer(), server_default='3', nullable=False),
        sa.ForeignKeyConstraint(['county_code'], ['admin_area.code']),
        sa.PrimaryKeyConstraint('county_code'))


def downgrade() -> None:
    op.drop_table('staff_policy')
    op.drop_table('staff_photo')
    op.drop_constraint('dates_ordered', 'staff_assignment', type_='check')
    op.drop_column('staff_assignment', 'ended_reason')
    op.drop_index('ix_staff_phone', table_name='staff')
    op.drop_constraint('dates_ordered', 'staff', type_='check')
    op.drop_constraint('employment_known', 'staff', type_='check')
    op.drop_column('staff', 'end_date')
    op.drop_column('staff', 'start_date')
    op.drop_column('staff', 'employment')
    op.drop_column('staff', 'duties')
