"""grid events: photos of a report, a tracking code for the reporter, who fed back (separation of duties)

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('event', sa.Column('handled_by_user_id', sa.Integer(), nullable=True))
    op.create_foreign_key('event_handled_by_user_id_fkey', 'event', 'app_user', ['handled_by_user_id'], ['id'])
    op.add_column('event', sa.Column('tracking_code', sa.String(length=16), nullable=True))
    # Existing events get a random tracking code too (10 hex digits, upper case).
    op.execute("UPDATE event SET tracking_code = upper(substr(md5(random()::text || id::text), 1, 10))")
    op.create_unique_constraint('event_tracking_code_key', 'event', ['tracking_code'])
    # Who fed back, for events already past feedback: the last feedback in their history.
    op.execute("""UPDATE event e SET handled_by_user_id = h.user_id FROM (
                    SELECT DISTINCT ON (event_id) event_id, user_id FROM event_history
                    WHERE action = 'feedback' ORDER BY event_id, at DESC, id DESC) h
                  WHERE h.event_id = e.id AND e.status IN ('handled', 'verified', 'closed')""")
    op.create_table(
        'event_photo',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('content_type', sa.String(length=16), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name='photo_type_known'),
        sa.ForeignKeyConstraint(['event_id'], ['event.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id', 'position', name='event_photo_position'),
    )
    op.create_index('ix_event_photo_event_id', 'event_photo', ['event_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_photo_event_id', table_name='event_photo')
    op.drop_table('event_photo')
    op.drop_constraint('event_tracking_code_key', 'event', type_='unique')
    op.drop_column('event', 'tracking_code')
    op.drop_constraint('event_handled_by_user_id_fkey', 'event', type_='foreignkey')
    op.drop_column('event', 'handled_by_user_id')
