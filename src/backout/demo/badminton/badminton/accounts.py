"""Sign-in tokens and bookings: the parts of the app that act for one member."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from typing import Any

from .db import now_iso


class BookingRefused(Exception):
    """The booking cannot be made; `status` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _hash(token: str) -> str:
    # Only a hash is stored, so a copy of the database does not sign anyone in.
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(conn: sqlite3.Connection, email: str) -> tuple[str, dict[str, Any]] | None:
    """A new token and the member for `email`, or None when no member has that email."""
    row = conn.execute(
        "SELECT id, email, name FROM members WHERE email = ?", (email.strip().lower(),)
    ).fetchone()
    if row is None:
        return None
    token = secrets.token_urlsafe(24)
    conn.execute(
        "INSERT INTO tokens (token_hash, member_id, created_at) VALUES (?, ?, ?)",
        (_hash(token), row["id"], now_iso()),
    )
    return token, dict(row)


def member_for_token(conn: sqlite3.Connection, token: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT m.id, m.email, m.name FROM tokens t JOIN members m ON m.id = t.member_id "
        "WHERE t.token_hash = ?",
        (_hash(token),),
    ).fetchone()
    return None if row is None else dict(row)


def book(conn: sqlite3.Connection, member_id: int, session_id: int) -> dict[str, Any]:
    """Book a spot in one transaction, so two last-spot bookings cannot both win."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        booking = _book_in_transaction(conn, member_id, session_id)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return booking


def _book_in_transaction(
    conn: sqlite3.Connection, member_id: int, session_id: int
) -> dict[str, Any]:
    session = conn.execute(
        "SELECT s.capacity, COUNT(b.id) AS booked FROM court_sessions s "
        "LEFT JOIN bookings b ON b.session_id = s.id WHERE s.id = ? GROUP BY s.id",
        (session_id,),
    ).fetchone()
    if session is None:
        raise BookingRefused(404, f"no court session {session_id}")
    already = conn.execute(
        "SELECT 1 FROM bookings WHERE session_id = ? AND member_id = ?", (session_id, member_id)
    ).fetchone()
    if already is not None:
        raise BookingRefused(409, "you already have a spot in this session")
    if session["booked"] >= session["capacity"]:
        raise BookingRefused(409, "this session is full")
    created_at = now_iso()
    cursor = conn.execute(
        "INSERT INTO bookings (session_id, member_id, created_at) VALUES (?, ?, ?)",
        (session_id, member_id, created_at),
    )
    return {
        "id": cursor.lastrowid,
        "session_id": session_id,
        "member_id": member_id,
        "created_at": created_at,
        "spots_left": session["capacity"] - session["booked"] - 1,
    }
