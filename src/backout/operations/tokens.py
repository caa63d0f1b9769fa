"""API tokens: made by `backout token create`, stored only as a SHA-256 hash, each with a role."""

from __future__ import annotations

import hashlib
import secrets
from enum import IntEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backout.audit import audit
from backout.errors import PermissionDeniedError, RefusedError
from backout.runtime import Runtime
from backout.store import ApiToken, utcnow

TOKEN_PREFIX = "bk_"  # noqa: S105 - a prefix that makes leaked tokens greppable, not a secret


class Role(IntEnum):
    """Each role may do what the roles below it may."""

    CLIENT = 0  # read the flags through the Unleash client API (/api/client/*), nothing else
    VIEWER = 1  # read everything
    OPERATOR = 2  # start rollbacks and deploys, abort runs
    APPROVER = 3  # approve runs waiting at a gate
    ADMIN = 4  # manage tokens

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            names = ", ".join(r.name.lower() for r in cls if r is not cls.CLIENT)
            hint = f"roles: {names}; or client, for apps reading their flags (the client API only)"
            raise RefusedError(f"unknown role {name!r}", hint=hint) from None


def token_digest(token: str) -> str:
    """What is kept of a token (the store, the dashboard's sessions): never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(runtime: Runtime, name: str, role: Role, *, actor: str) -> str:
    """Make a token and return it; it is shown once and only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with runtime.store.session() as session:
            session.add(ApiToken(name=name, role=role.name.lower(), token_hash=token_digest(token)))
            audit(session, actor, "token.created", name, role=role.name.lower())
    except IntegrityError:
        raise RefusedError(f"a token named {name!r} exists", hint="pick another name") from None
    return token


def revoke_token(runtime: Runtime, name: str, *, actor: str) -> None:
    with runtime.store.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None or row.revoked_at is not None:
            raise RefusedError(f"there is no active token named {name!r}")
        row.revoked_at = utcnow()
        audit(session, actor, "token.revoked", name)


def authenticate(runtime: Runtime, token: str) -> tuple[str, Role]:
    """The (name, role) of a valid token; PermissionDeniedError otherwise."""
    return authenticate_digest(runtime, token_digest(token))


def authenticate_digest(runtime: Runtime, digest: str) -> tuple[str, Role]:
    """The (name, role) of the valid token whose `token_digest` is `digest`."""
    with runtime.store.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if row is None or row.revoked_at is not None:
            raise PermissionDeniedError("invalid or revoked API token")
        return row.name, Role.parse(row.role)


def require(role: Role, needed: Role, action: str) -> None:
    if role < needed:
        raise PermissionDeniedError(
            f"{action} needs role {needed.name.lower()}; this token has {role.name.lower()}"
        )


def list_tokens(runtime: Runtime) -> list[dict[str, str | None]]:
    """Every token's name, role and dates, oldest first (never the token: it is not kept)."""
    with runtime.store.session() as session:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.id))
        return [
            {
                "name": row.name,
                "role": row.role,
                "created_at": row.created_at.isoformat(),
                "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            }
            for row in rows
        ]
