"""Sign-in tokens and bookings: the parts of the app that act for one member."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, func, insert, select

from .db import insert_row, iso, utc_now
from .tables import bookings, court_sessions, members, tokens


class BookingRefused(Exception):
    """The booking cannot be made; `status` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _hash(token: str) -> str:
    # Only a hash is stored, so a copy of the database does not sign anyone in.
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(conn: Connection, email: str) -> tuple[str, dict[str, Any]] | None:
    """A new token and the member for `email`, or None when no member has that email."""
    query = select(members.c.id, members.c.email, members.c.name).where(
        members.c.email == email.strip().lower()
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        return None
    token = secrets.token_urlsafe(24)
    conn.execute(
        insert(tokens).values(token_hash=_hash(token), member_id=row["id"], created_at=utc_now())
    )
    return token, dict(row)


def member_for_token(conn: Connection, token: str) -> dict[str, Any] | None:
    query = (
        select(members.c.id, members.c.email, members.c.name)
        .join_from(tokens, members, members.c.id == tokens.c.member_id)
        .where(tokens.c.token_hash == _hash(token))
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else dict(row)


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
