"""rate-limit counters unlogged: a hit is counted without a WAL write

Every anonymous lookup counts one hit. Logged, each hit was a WAL record and a commit flush, which
was most of a lookup's time under load. The counters are worth nothing after a crash (PostgreSQL
empties unlogged tables then: every client starts a fresh window) and replicas never read them.

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-07 23:00:00
"""
from alembic import op

revision = '0012'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('ALTER TABLE rate_limit SET UNLOGGED')


def downgrade() -> None:
    op.execute('ALTER TABLE rate_limit SET LOGGED')
