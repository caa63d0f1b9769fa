"""Secrets never leave backout: the one function every output channel passes its text through.

A password inside a URL (`https://user:pw@host`, `postgresql://app:pw@db/shop`), a token given
as an http(s) URL's user (`https://TOKEN@host`), a secret query parameter (`?token=...`), a
libpq `password=...` and every secret value backout has read itself (an API token from the
config or the environment, registered with `remember_secret`) are replaced by `***`. It is
applied where text leaves the process or is stored for people to read: every `BackoutError`
(so the CLI's message, its `--json` error and the API's error bodies), every log record, the
incident timeline and the steps of a run.

Redaction keeps what a person needs to act on (the scheme, a database user, the host, the port):
"the Unleash server at http://admin:***@unleash:4242 is not reachable" still says where to look.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

MASK = "***"

# The password of a URL's user-information, after its `:` (or a percent-encoded `%3A`). The
# greedy class backs off to the authority's last `@`, so a password that itself holds an
# unencoded `@` is masked whole, not in part.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^\s:/?#@%]|%(?!3[aA]))*(?::|%3[aA]))"
    r"[^\s/?#]*(?=@)"
)
# A user without a password in an http(s) URL is a token (`https://TOKEN@host`), the way
# HTTP services take one: masked whole. A database URL's user stays readable.
_HTTP_USER_TOKEN = re.compile(r"(?P<head>\bhttps?://)[^\s:/?#@]+(?=@)", re.IGNORECASE)
# A query parameter or key=value pair whose name says it is a secret: one of the short names,
# or any name ending in a longer word (refresh_token, db_password, X-Amz-Signature, private_key);
# also after a quote or a parenthesis (a command's output quoted as 'token=...'). An unquoted
# value runs to a space or separator: a `)` may be part of the secret, so it is masked too.
_SECRET_PARAMETER = re.compile(
    r"(?P<head>(?:[?&;\s,#'\"(]|^)(?:pwd|pass|sig|key|apikey|auth|authorization|jwt|session|sid"
    r"|[\w.\-]*(?:password|passwd|passphrase|secret|token|signature|credentials?|sessionid"
    r"|session_id|[_.\-]key))\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,#'\"]+)",
    re.IGNORECASE,
)
# The credentials of an HTTP Authorization header quoted in a message.
_AUTHORIZATION = re.compile(r"(?P<head>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=:\-]{8,}")
# A secret shorter than this is not remembered: masking every "admin" would hide too much.
MIN_REMEMBERED_LENGTH = 8

_remembered: set[str] = set()
_remembered_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """From now on, mask `value` wherever it appears (a token read from config or environment)."""
    if value and len(value) >= MIN_REMEMBERED_LENGTH:
        with _remembered_lock:
            _remembered.add(value)


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by `***`."""
    if not text:
        return text
    for secret in sorted(_remembered, key=len, reverse=True):  # longest first: no partial leaks
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)
    text = _HTTP_USER_TOKEN.sub(rf"\g<head>{MASK}", text)
    text = _AUTHORIZATION.sub(rf"\g<head>{MASK}", text)
    return _SECRET_PARAMETER.sub(rf"\g<head>{MASK}", text)


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact(text)


def redact_json(value: Any) -> Any:
    """A JSON-shaped value (dicts, lists, strings ...) with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    return value


def install_log_redaction() -> None:
    """Redact every log record of this process, whichever logger or handler it goes through.

    A record factory rather than a handler filter, so the handlers uvicorn and others add later
    are covered too. The traceback of a logged exception is formatted and redacted here as well.
    Idempotent.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return
    logging.setLogRecordFactory(_redacting(factory))


def _redacting(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _redact_record(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    make_record.redacts = True  # type: ignore[attr-defined]
    return make_record


def _redact_record(record: logging.LogRecord) -> None:
    """Redact the message and keep its arguments' shape where it can: some formatters (uvicorn's
    access log) read `record.args` as a tuple of their own."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed %-format: the handler reports it as usual
        return
    if redact(message) == message:
        return
    if isinstance(record.args, tuple):
        template, arguments = redact(str(record.msg)), tuple(map(_redact_argument, record.args))
        try:
            if redact(template % arguments) == template % arguments:
                record.msg, record.args = template, arguments
                return
        except (TypeError, ValueError):
            pass
    record.msg, record.args = redact(message), None


def _redact_argument(argument: Any) -> Any:
    if isinstance(argument, int | float | bool) or argument is None:
        return argument
    text = str(argument)
    redacted = redact(text)
    return argument if redacted == text else redacted
