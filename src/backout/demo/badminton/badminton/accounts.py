"""Sign-in by email and the tokens it issues: who a request acts for."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, insert, select

from .db import utc_now
from .tables import members, tokens


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
