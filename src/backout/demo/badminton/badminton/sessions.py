"""Court sessions as the front page lists them: when, where, and how many spots are left."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, DateTime, RowMapping, text

from .db import iso

SESSIONS_SQL = """
SELECT s.id, s.court, s.starts_at, s.capacity, g.id AS group_id, g.name AS group_name,
       g.venue, COUNT(b.id) AS booked
FROM court_sessions s
JOIN groups g ON g.id = s.group_id
LEFT JOIN bookings b ON b.session_id = s.id
GROUP BY s.id, g.id
ORDER BY s.starts_at, s.id
"""


def list_sessions(conn: Connection) -> list[dict[str, Any]]:
    query = text(SESSIONS_SQL).columns(starts_at=DateTime(timezone=True))
    return [session_view(row) for row in conn.execute(query).mappings()]


def session_view(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "court": row["court"],
        "starts_at": iso(row["starts_at"]),
        "group": {"id": row["group_id"], "name": row["group_name"], "venue": row["venue"]},
        "capacity": row["capacity"],
        "booked": row["booked"],
        "spots_left": row["capacity"] - row["booked"],
    }
