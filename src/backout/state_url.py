"""Where backout keeps its own state: which URLs it can use, checked before anything opens one.

Checked without SQLAlchemy (every command loads the config; few open the store), so a URL
backout cannot use is a configuration error (exit 3) naming the key or the variable.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from backout.errors import ConfigError

STATE_URL_VARIABLE = "BACKOUT_DATABASE_URL"
_SUPPORTED_STATE_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


def state_url_problem(url: str) -> str | None:
    """Why `url` cannot be backout's state store, or None; checked without importing SQLAlchemy."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in _SUPPORTED_STATE_SCHEMES:
        return (
            "expected sqlite:///PATH or postgresql://USER@HOST/DB "
            f"(a URL starting with {', '.join(s + '://' for s in _SUPPORTED_STATE_SCHEMES)})"
        )
    if scheme == "sqlite" and (not rest.startswith("/") or rest == "/"):
        return "expected sqlite:///PATH, three slashes and a path: sqlite:///.backout/state.db"
    if scheme != "sqlite" and not rest.strip("/"):
        return "a postgresql URL names a host and a database: postgresql://USER@HOST/DB"
    if scheme != "sqlite":
        try:
            urlsplit(url).port  # noqa: B018 - raises on a malformed host or port
        except ValueError:  # urllib's words quote the bad part, which may be a password's
            return (
                "the host or port is not valid: expected postgresql://USER@HOST[:PORT]/DB, "
                "a port from 1 to 65535, a password's # / ? @ written %23 %2F %3F %40"
            )
    return None


def check_state_url_variable() -> None:
    """Refuse a $BACKOUT_DATABASE_URL backout cannot use (it overrides state.database)."""
    url = os.environ.get(STATE_URL_VARIABLE)
    problem = None if not url else state_url_problem(url)
    if problem is not None:
        raise ConfigError(
            f"${STATE_URL_VARIABLE}",
            [problem],
            hint=f"fix or unset {STATE_URL_VARIABLE} (it overrides state.database)",
        )
