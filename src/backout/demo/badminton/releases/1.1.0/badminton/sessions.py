"""Court sessions as the front page lists them: when, where, and how many spots are left.

1.1.0 adds the waitlist: each session also says how many members wait for a spot.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, DateTime, RowMapping, text

from . import waitlist_flag
from .db import iso
from .release import WAITLIST_REFRESH_MS

SESSIONS_SQL = """
SELECT s.id, s.court, s.starts_at, s.capacity, g.id AS group_id, g.name AS group_name,
       g.venue, COUNT(b.id) AS booked, 0 AS waitlisted
FROM court_sessions s
JOIN groups g ON g.id = s.group_id
LEFT JOIN bookings b ON b.session_id = s.id
GROUP BY s.id, g.id
ORDER BY s.starts_at, s.id
"""

# The new query joins the waitlist table, which no migration of 1.1.0 creates: every request
# routed here fails with "no such table: waitlist" (PostgreSQL: relation "waitlist" does not
# exist).
SESSIONS_WITH_WAITLIST_SQL = """
SELECT s.id, s.court, s.starts_at, s.capacity, g.id AS group_id, g.name AS group_name,
       g.venue, COUNT(DISTINCT b.id) AS booked, COUNT(DISTINCT w.member_id) AS waitlisted
FROM court_sessions s
JOIN groups g ON g.id = s.group_id
LEFT JOIN bookings b ON b.session_id = s.id
LEFT JOIN waitlist w ON w.session_id = s.id
GROUP BY s.id, g.id
ORDER BY s.starts_at, s.id
"""


def list_sessions(conn: Connection) -> list[dict[str, Any]]:
    in_rollout = waitlist_flag.waitlist_on()
    if in_rollout:
        refresh_waitlist()
    sql = SESSIONS_WITH_WAITLIST_SQL if in_rollout else SESSIONS_SQL
    query = text(sql).columns(starts_at=DateTime(timezone=True))
    return [session_view(row) for row in conn.execute(query).mappings()]


def refresh_waitlist() -> None:
    """Promote waiting members into freed spots before listing.

    The demo stands this in with its cost alone: every listing on the waitlist path waits
    WAITLIST_REFRESH_MS.
    """
    time.sleep(WAITLIST_REFRESH_MS / 1000)


def session_view(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "court": row["court"],
        "starts_at": iso(row["starts_at"]),
        "group": {"id": row["group_id"], "name": row["group_name"], "venue": row["venue"]},
        "capacity": row["capacity"],
        "booked": row["booked"],
        "spots_left": row["capacity"] - row["booked"],
        "waitlisted": row["waitlisted"],
    }
