"""Signed webhook deliveries, Stripe-style: `Backout-Signature: t=<unix time>,v1=<hex>`.

The signature is HMAC-SHA256, keyed with a shared secret, over `<t>.<body>`. A delivery is
accepted when one `v1` matches, its timestamp is within the tolerance of this server's clock
(either way), and that signature was never accepted before — by any process sharing the store
(table `seen_signatures`, inserted once; rows whose timestamp could no longer be accepted are
deleted as new ones arrive, so the table stays as small as the traffic of one tolerance).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from backout.errors import PermissionDeniedError
from backout.runtime import Runtime
from backout.store.tables import seen_signatures

SIGNATURE_HEADER = "Backout-Signature"
_SCHEME = "v1"
_MAX_SIGNATURES = 8  # v1 values in one header (a sender rolling its secret sends two)


class BadSignatureError(PermissionDeniedError):
    """A signed delivery that is not accepted: malformed, wrong, stale, or replayed (HTTP 401)."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on `body` sent at `timestamp` (for senders and tests)."""
    return f"t={timestamp},{_SCHEME}={_digest(secret, body, str(timestamp))}"


def verify(runtime: Runtime, header: str, body: bytes, *, secret: bytes) -> None:
    """Accept the delivery once, or raise BadSignatureError saying why (never the secret)."""
    timestamp, signatures = _parse(header)
    now = runtime.clock.now().timestamp()
    tolerance = runtime.config.alerts.signature_tolerance.total_seconds()
    if abs(now - int(timestamp)) > tolerance:
        raise BadSignatureError(
            f"the signature's timestamp is more than {tolerance:g}s from the server's clock",
            hint="sign each delivery when it is sent; check the sender's clock",
        )
    expected = _digest(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise BadSignatureError(
            "the signature does not match the body",
            hint=f"sign '<t>.<body>' with HMAC-SHA256 and the shared secret: {_SCHEME}=<hex>",
        )
    if not _first_time(runtime, expected, int(timestamp) + tolerance, now):
        raise BadSignatureError("this signed delivery was accepted before: a replay is refused")


def _parse(header: str) -> tuple[str, list[str]]:
    timestamp = None
    signatures: list[str] = []
    for part in header.split(",")[: _MAX_SIGNATURES + 4]:
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = value
        elif key == _SCHEME and len(value) == 64:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise BadSignatureError(
            f"a malformed {SIGNATURE_HEADER} header",
            hint=f"expected t=<unix time>,{_SCHEME}=<64 hex digits>",
        )
    return timestamp, signatures[:_MAX_SIGNATURES]


def _digest(secret: bytes, body: bytes, timestamp: str) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _first_time(runtime: Runtime, signature: str, expires_at: float, now: float) -> bool:
    """Insert the signature unless it is there: True when this call inserted it."""
    with runtime.store.session() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(delete(seen_signatures).where(seen_signatures.c.expires_at < now))
        inserted = session.execute(
            insert(seen_signatures)
            .values(signature=signature, expires_at=expires_at)
            .on_conflict_do_nothing()
            .returning(seen_signatures.c.signature)
        ).scalar_one_or_none()
    return inserted is not None
