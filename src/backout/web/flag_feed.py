"""The flags the client API serves, kept fresh, and a wake-up for everyone streaming them.

Flags change in other processes (`backout flags disable` writes the state store), so the server
cannot be told of a change: it looks. Every `interval_s` (100 ms by default) one task in the
server's event loop reads the provider's client-features payload in a worker thread, hashes it,
and when the hash differs from the last one, swaps in the new snapshot and wakes every stream
waiting for it. A request is then served from memory, and a thousand open streams cost a
thousand parked coroutines on one event, not a thread or a store query each.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from backout.errors import UnavailableError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.1
REMOTE_INTERVAL_S = 1.0
DEFAULT_HEARTBEAT_S = 15.0
LOCAL_PROVIDERS = frozenset({"builtin", "fake"})

ReadPayload = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class FlagSnapshot:
    """One payload as served: its bytes, its ETag, and a number that grows at each change."""

    payload: dict[str, Any] = field(repr=False)
    body: bytes = field(repr=False)
    etag: str
    version: int

    @classmethod
    def of(cls, payload: dict[str, Any], version: int = 0) -> FlagSnapshot:
        body = encode(payload)
        return cls(payload, body, etag_of(body), version)

    @cached_property
    def hydration(self) -> bytes:
        """The payload as the Unleash streaming API sends it: one event replacing every flag."""
        event = {
            "type": "hydration",
            "eventId": self.version,
            "features": self.payload.get("features", []),
            "segments": self.payload.get("segments", []),
        }
        return encode({"events": [event]})


def interval_for(provider_type: str) -> float:
    """How often to look: 100 ms at flags in backout's own store (a small query), 1 s at a
    remote flag service (each look is a request to it)."""
    return DEFAULT_INTERVAL_S if provider_type in LOCAL_PROVIDERS else REMOTE_INTERVAL_S


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def etag_of(body: bytes) -> str:
    """A strong ETag: the same bytes always get the same tag, in every server process."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class FlagFeed:
    """The current snapshot of the flags, re-read every `interval_s`; see the module doc.

    `start`/`stop` run in the server's event loop; `close` may be called from any thread and
    ends every stream (a server that stops must not wait for its streams' clients to go).
    """

    def __init__(
        self,
        read: ReadPayload,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    ) -> None:
        self._read = read
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s  # how often an idle stream sends a comment
        self._current: FlagSnapshot | None = None
        self._changed = asyncio.Event()
        self._closed = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing: str | None = None

    @property
    def current(self) -> FlagSnapshot:
        """The last payload read; UnavailableError until one was read."""
        if self._current is None:
            raise UnavailableError(
                "the flags could not be read yet",
                # Not the reason itself: a client token is handed to apps, even to browsers, and
                # the reason names where the flags live.
                hint="the server is still starting"
                if self._failing is None
                else "backout cannot read its flag provider; the server log says why",
            )
        return self._current

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def start(self, first_read_s: float = 2.0) -> None:
        """Start watching; wait up to `first_read_s` for the first read, so that the first
        requests find the flags, without a slow flag service holding the server back."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        first_read = asyncio.Event()
        self._task = asyncio.create_task(self._watch(first_read), name="flag-feed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_read.wait(), first_read_s)

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def close(self) -> None:
        """End every stream now and refuse new ones; safe from any thread."""
        self._closed.set()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(self._wake)

    async def refresh(self) -> bool:
        """Read the payload now; True when it differs from the last one (waking the waiters)."""
        try:  # encoded and hashed in the thread too: the event loop only compares tags
            read = await asyncio.to_thread(lambda: FlagSnapshot.of(self._read()))
        except Exception as error:  # any provider failure: keep serving the last payload
            self._note_failure(error)
            return False
        if self._failing is not None:
            log.info("the flags are readable again")
            self._failing = None
        return self._publish(read)

    def _publish(self, read: FlagSnapshot) -> bool:
        """Make what was read the current snapshot if it differs; True when it did."""
        if self._current is not None and read.etag == self._current.etag:
            return False
        version = 1 if self._current is None else self._current.version + 1
        self._current = replace(read, version=version)
        self._wake()
        return True

    async def next_after(self, version: int, timeout_s: float) -> FlagSnapshot | None:
        """The snapshot after `version` as soon as there is one; None after `timeout_s`
        without a change, or when the feed is closed."""
        while not self.closed:
            current = self._current
            if current is not None and current.version != version:
                return current
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout_s)
            except TimeoutError:
                return None
        return None

    def _wake(self) -> None:
        """Wake everyone waiting, and give the next waiters a fresh event to wait on."""
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    async def _watch(self, first_read: asyncio.Event) -> None:
        await self.refresh()
        first_read.set()
        while not self.closed:
            await asyncio.sleep(self.interval_s)
            await self.refresh()

    def _note_failure(self, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"
        if self._failing is None:
            log.warning("the flags could not be read (serving the last ones): %s", reason)
        self._failing = reason
