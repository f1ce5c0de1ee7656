"""grid events: the handling state, feedback/warning/escalation times, the handler unit

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 21:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

NEW_STATUSES = ("'reported', 'registered', 'cancelled', 'dispatched', 'handling', 'handled', 'verified', 'closed', "
                "'returned'")
OLD_STATUSES = ("'reported', 'registered', 'cancelled', 'dispatched', 'handled', 'fed_back', 'verified', 'closed', "
                "'returned', 'backlog'")


def upgrade() -> None:
    op.add_column('event', sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('event', sa.Column('warned_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('event', sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('event', sa.Column('handler_unit', sa.Text(), nullable=True))
    op.create_index('ix_event_status', 'event', ['status'], unique=False)
    # The loop of gis.eventflow: 'handling' is new; 'fed_back' is 'handled', 'backlog' is escalated_at.
    op.execute("UPDATE event SET status = 'handled' WHERE status = 'fed_back'")
    op.execute("UPDATE event SET status = 'dispatched' WHERE status = 'backlog'")
    op.drop_constraint('status_known', 'event', type_='check')
    op.create_check_constraint('status_known', 'event', f"status IN ({NEW_STATUSES})")


def downgrade() -> None:
    op.drop_constraint('status_known', 'event', type_='check')
    op.execute("UPDATE event SET status = 'dispatched' WHERE status = 'handling'")
    op.create_check_constraint('status_known', 'event', f"status IN ({OLD_STATUSES})")
    op.drop_index('ix_event_status', table_name='event')
    op.drop_column('event', 'handler_unit')
    op.drop_column('event', 'escalated_at')
    op.drop_column('event', 'warned_at')
    op.drop_column('event', 'handled_at')
