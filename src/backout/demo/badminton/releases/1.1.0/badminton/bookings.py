"""Bookings of court sessions: made, read back and cancelled by the member who holds them.

1.1.0 adds the waitlist: a booking first looks whether members wait for the session.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Connection, delete, func, select, text

from .db import insert_row, iso, utc_now
from .release import BOOKING_WAITLIST_ROLLOUT
from .tables import bookings, court_sessions

# Like the sessions listing's, this query reads the waitlist table that no migration of 1.1.0
# creates: every booking routed here fails with "no such table: waitlist".
WAITING_SQL = "SELECT COUNT(*) FROM waitlist WHERE session_id = :session_id"

_share = random.Random()


class BookingRefused(Exception):
    """The booking cannot be made or found; `status` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def book(conn: Connection, member_id: int, session_id: int) -> dict[str, Any]:
    """Book a spot; `conn` is a writing transaction, so two last-spot bookings cannot both win.

    On PostgreSQL the session's row is locked (FOR UPDATE) until the transaction ends; SQLite
    ignores FOR UPDATE, and its writing transaction holds the whole database instead.
    """
    locked = select(court_sessions.c.capacity).where(court_sessions.c.id == session_id)
    capacity = conn.execute(locked.with_for_update()).scalar()
    if capacity is None:
        raise BookingRefused(404, f"no court session {session_id}")
    of_session = bookings.c.session_id == session_id
    booked = conn.execute(select(func.count()).select_from(bookings).where(of_session)).scalar()
    already = conn.execute(
        select(bookings.c.id).where(of_session, bookings.c.member_id == member_id)
    ).first()
    if already is not None:
        raise BookingRefused(409, "you already have a spot in this session")
    if booked is None or booked >= capacity:
        raise BookingRefused(409, "this session is full")
    if _share.random() < BOOKING_WAITLIST_ROLLOUT and _waiting(conn, session_id):
        raise BookingRefused(409, "members on the waitlist come first")
    created_at = utc_now()
    booking_id = insert_row(
        conn, bookings, session_id=session_id, member_id=member_id, created_at=created_at
    )
    return {
        "id": booking_id,
        "session_id": session_id,
        "member_id": member_id,
        "created_at": iso(created_at),
        "spots_left": capacity - booked - 1,
    }


def _waiting(conn: Connection, session_id: int) -> int:
    """How many members wait for a spot in the session."""
    return conn.execute(text(WAITING_SQL), {"session_id": session_id}).scalar() or 0


def booking_of(conn: Connection, member_id: int, booking_id: int) -> dict[str, Any]:
    """The member's booking `booking_id`; another member's is as unknown as a missing one."""
    query = select(
        bookings.c.id, bookings.c.session_id, bookings.c.member_id, bookings.c.created_at
    ).where(bookings.c.id == booking_id, bookings.c.member_id == member_id)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise BookingRefused(404, f"you have no booking {booking_id}")
    return {**row, "created_at": iso(row["created_at"])}


def cancel(conn: Connection, member_id: int, booking_id: int) -> dict[str, Any]:
    """Cancel the member's booking, freeing its spot; the booking as it was."""
    cancelled = booking_of(conn, member_id, booking_id)
    conn.execute(delete(bookings).where(bookings.c.id == booking_id))
    return cancelled


def cancel_in_session(conn: Connection, member_id: int, session_id: int) -> dict[str, Any]:
    """Cancel the member's booking of a session, whatever its id: how a client that lost the
    id (a flow cut off between booking and cancelling) gives its spot back."""
    query = select(bookings.c.id).where(
        bookings.c.session_id == session_id, bookings.c.member_id == member_id
    )
    booking_id = conn.execute(query).scalar()
    if booking_id is None:
        raise BookingRefused(404, f"you have no booking in session {session_id}")
    return cancel(conn, member_id, booking_id)
