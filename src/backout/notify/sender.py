"""Send one message to one Apprise URL: the only module that talks to Apprise.

Apprise tells a failure by returning False and logging why; the log lines of the attempt are
captured and become the failure's reason, with every part of the URL masked (an Apprise URL
keeps its tokens in the path: `slack://T000/B000/XXXX`, which `redact()` alone cannot know).
A filter on Apprise's logger masks the URLs being sent in every line it logs, whoever handles
it; and its lines are not passed on to backout's log: backout logs each outcome itself.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from backout.redact import MASK, redact

# An Apprise URL part shorter than this is left readable in a reason (a port, "json", "a").
_MIN_MASKED = 4


class SendFailed(Exception):
    """The target did not take the message; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def send(url: str, title: str, body: str, *, timeout_s: float) -> None:
    """Deliver, or raise SendFailed with a reason that shows no part of the URL's secrets."""
    apprise = _apprise()
    sender = apprise.Apprise()
    with _sending(url):
        if not sender.add(_with_timeout(url, timeout_s)):
            raise SendFailed("not an Apprise URL that this installation can send to")
        with apprise.LogCapture(level=logging.DEBUG) as captured:
            try:
                delivered = sender.notify(body=body, title=title)
            except Exception as error:
                raise SendFailed(mask_url(f"{type(error).__name__}: {error}", url)) from None
    if not delivered:
        said = " ".join(_reason_lines(captured.getvalue()))
        raise SendFailed(mask_url(said or "the target refused the message", url)[:1000])


_being_sent: set[str] = set()  # the URLs of sends under way, in any thread
_being_sent_lock = threading.Lock()


class _MaskUrlsBeingSent(logging.Filter):
    """Apprise logs the URL it posts to at debug level (a webhook's path is its secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _being_sent_lock:
            urls = list(_being_sent)
        message = record.getMessage()
        masked = message
        for url in urls:
            masked = mask_url(masked, url)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER = _MaskUrlsBeingSent()


@contextlib.contextmanager
def _sending(url: str) -> Iterator[None]:
    logger = logging.getLogger("apprise")
    logger.propagate = False  # see the module's docstring
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    with _being_sent_lock:
        _being_sent.add(url)
    try:
        yield
    finally:
        with _being_sent_lock:
            _being_sent.discard(url)


def _apprise() -> Any:
    """Apprise, imported on first use: it loads its plug-ins, which a process that never sends
    need not pay for. Its e-mail plug-in imports `imghdr`, deprecated since Python 3.11: that
    warning is Apprise's to fix, not the user's to read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ImportError):  # gone in 3.13, where Apprise shims it
            import imghdr  # noqa: F401, PLC0415 - once imported, its plug-in's import is silent
        import apprise  # noqa: PLC0415

    return apprise


def _with_timeout(url: str, timeout_s: float) -> str:
    """Apprise's connect and read timeouts (cto, rto), unless the URL sets its own."""
    query = urlsplit(url).query
    names = {name for name, _ in parse_qsl(query)}
    extra = "&".join(f"{n}={timeout_s:g}" for n in ("cto", "rto") if n not in names)
    if not extra:
        return url
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def _reason_lines(log_text: str) -> list[str]:
    """The warnings of the attempt, and the exception behind them (logged at debug level):
    "2026-12-04 15:52:15,521 - WARNING - A Connection error occurred ..." → the message."""
    reasons = []
    for line in log_text.splitlines():
        _, level, message = [*line.split(" - ", 2), "", ""][:3]
        if level in {"WARNING", "ERROR", "CRITICAL"} or "Exception" in message:
            reasons.append(message.strip())
    return reasons


def mask_url(text: str, url: str) -> str:
    """`text` with the URL's user, password, path parts and query values masked (its scheme
    and host stay: they say where it failed)."""
    parts = urlsplit(url)
    secrets = [parts.username, parts.password, *parts.path.split("/")]
    secrets += [value for _, value in parse_qsl(parts.query)]
    host = parts.hostname or ""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= _MIN_MASKED and secret != host:
            text = text.replace(secret, MASK)
    return redact(re.sub(r"\s+", " ", text).strip())
