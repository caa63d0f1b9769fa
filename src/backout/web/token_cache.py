"""Valid tokens remembered for a few seconds, so that a request costs no store query to check one.

Tokens are made and revoked by `backout token` in other processes, so the server cannot be told
of a revocation: it reads the token's row again once its entry is TOKEN_RECHECK_S old. A revoked
token is therefore refused at most that long after `backout token revoke` (docs/api.md). Only
valid tokens are remembered: an unknown one is looked up every time, and the cache holds at most
as many entries as there are tokens (bounded by MAX_ENTRIES all the same).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from backout.operations.tokens import Role, token_digest

TOKEN_RECHECK_S = 5.0
MAX_ENTRIES = 10_000

Authenticate = Callable[[str], tuple[str, Role]]


class TokenCache:
    def __init__(
        self,
        authenticate: Authenticate,
        monotonic: Callable[[], float],
        recheck_s: float = TOKEN_RECHECK_S,
    ) -> None:
        self._authenticate = authenticate
        self._monotonic = monotonic
        self.recheck_s = recheck_s
        self._valid: dict[str, tuple[str, Role, float]] = {}
        self._lock = threading.Lock()

    def caller_of(self, token: str) -> tuple[str, Role] | None:
        """The (name, role) of `token` if it was found valid less than `recheck_s` ago."""
        key = token_digest(token)
        entry = self._valid.get(key)
        if entry is None:
            return None
        name, role, checked_at = entry
        if self._monotonic() - checked_at >= self.recheck_s:
            return None
        return name, role

    def authenticate(self, token: str) -> tuple[str, Role]:
        """Check `token` in the store (PermissionDeniedError if invalid) and remember it."""
        name, role = self._authenticate(token)
        with self._lock:
            if len(self._valid) >= MAX_ENTRIES:
                self._valid.clear()
            self._valid[token_digest(token)] = (name, role, self._monotonic())
        return name, role
