"""The dashboard's sign-in sessions, kept in the server's memory and keyed by a random id.

The cookie carries only that id: never the token, and the server keeps only the token's
digest (what the store keeps too), so neither a stolen cookie jar nor a memory dump hands out
a working API token. A session is as good as its token: the token's row is read again once
the session's last check is `recheck_s` old, and a revoked token ends every session opened
with it. A session also ends `max_age_s` after sign-in, at sign-out, and when the server
restarts (people sign in again).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from backout.errors import PermissionDeniedError
from backout.operations.tokens import Role
from backout.web.token_cache import TOKEN_RECHECK_S

SESSION_MAX_AGE_S = 12 * 3600  # one on-call shift; then sign in again
MAX_SESSIONS = 10_000  # past this the oldest sessions are dropped (memory stays bounded)

CheckDigest = Callable[[str], tuple[str, Role]]


@dataclass(frozen=True)
class DashboardSession:
    id: str
    token_digest: str
    name: str
    role: Role
    csrf: str  # the token every state-changing form of this session must send back
    opened_at: float
    checked_at: float

    @property
    def actor(self) -> str:
        """The name recorded in the audit log: the same as the token's over the API."""
        return f"token:{self.name}"


class SessionStore:
    """Sessions by id. `check_digest` answers a token's (name, role) or raises
    PermissionDeniedError (it reads the store: call `recheck` off the event loop)."""

    def __init__(
        self,
        check_digest: CheckDigest,
        monotonic: Callable[[], float],
        *,
        max_age_s: float = SESSION_MAX_AGE_S,
        recheck_s: float = TOKEN_RECHECK_S,
    ) -> None:
        self._check_digest = check_digest
        self._monotonic = monotonic
        self.max_age_s = max_age_s
        self.recheck_s = recheck_s
        self._sessions: dict[str, DashboardSession] = {}
        self._lock = threading.Lock()

    def open(self, token_digest: str, name: str, role: Role) -> DashboardSession:
        now = self._monotonic()
        session = DashboardSession(
            id=secrets.token_urlsafe(32),
            token_digest=token_digest,
            name=name,
            role=role,
            csrf=secrets.token_urlsafe(32),
            opened_at=now,
            checked_at=now,
        )
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.opened_at)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> DashboardSession | None:
        """The session, or None when it is unknown or too old (then it is dropped)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if self._monotonic() - session.opened_at >= self.max_age_s:
            self.close(session_id)
            return None
        return session

    def due_for_check(self, session: DashboardSession) -> bool:
        return self._monotonic() - session.checked_at >= self.recheck_s

    def recheck(self, session: DashboardSession) -> DashboardSession | None:
        """Read the session's token again: None (and the session ends) once it is revoked;
        a role changed since sign-in is taken as it is now."""
        try:
            name, role = self._check_digest(session.token_digest)
        except PermissionDeniedError:
            self.close(session.id)
            return None
        checked = replace(session, name=name, role=role, checked_at=self._monotonic())
        with self._lock:
            if session.id not in self._sessions:  # signed out meanwhile
                return None
            self._sessions[session.id] = checked
        return checked

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
