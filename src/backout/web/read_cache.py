"""What the API read from the store, kept until the store changes (see store/changes.py).

A list of runs or the facts of every service cost the store several queries and the server a
few milliseconds; while nothing was committed the same answer is served again. On a store that
cannot tell a change (PostgreSQL) everything is read again at each request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from backout.store.changes import StoreChanges

T = TypeVar("T")

MAX_ENTRIES = 256  # distinct answers kept (each page of each list is one); the oldest go first


class ReadCache:
    def __init__(self, changes: StoreChanges, max_entries: int = MAX_ENTRIES) -> None:
        self.changes = changes
        self._entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, key: str, read: Callable[[], T]) -> T:
        """What `read()` returned for `key`, read again only if the store changed since."""
        version = self.changes.version()  # before reading: a commit meanwhile is seen next time
        if version is None:
            return read()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            kept: T = entry[1]
            return kept
        value = read()
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value
