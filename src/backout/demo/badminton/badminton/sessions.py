"""Court sessions as the front page lists them: when, where, and how many spots are left."""

from __future__ import annotations

import sqlite3
from typing import Any

SESSIONS_SQL = """
SELECT s.id, s.court, s.starts_at, s.capacity, g.id AS group_id, g.name AS group_name,
       g.venue, COUNT(b.id) AS booked
FROM court_sessions s
JOIN groups g ON g.id = s.group_id
LEFT JOIN bookings b ON b.session_id = s.id
GROUP BY s.id
ORDER BY s.starts_at, s.id
"""


def list_sessions(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [session_view(row) for row in conn.execute(SESSIONS_SQL)]


def session_view(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "court": row["court"],
        "starts_at": row["starts_at"],
        "group": {"id": row["group_id"], "name": row["group_name"], "venue": row["venue"]},
        "capacity": row["capacity"],
        "booked": row["booked"],
        "spots_left": row["capacity"] - row["booked"],
    }
