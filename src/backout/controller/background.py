"""Runs executing off the caller's thread: the one place backout starts threads for runs.

Steps block (a deploy, a monitor window), so a run started by the watch loop or over the API
goes on in a thread of its own while the loop keeps watching and the server keeps answering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from backout.errors import BackoutError
from backout.runs.records import RunResult
from backout.runs.start import RunHandle

log = logging.getLogger(__name__)

KEPT_RESULTS = 100  # the newest results are kept; a controller running for months stays small


class BackgroundRuns:
    """A thread per run; remembers the newest results. Implements `BackgroundRunner`."""

    def __init__(
        self,
        should_stop: threading.Event | None = None,
        on_end: Callable[[RunResult], None] | None = None,
    ) -> None:
        self.results: list[RunResult] = []
        self._on_end = on_end  # told each result, from the run's thread
        self.stopping = should_stop or threading.Event()
        self._leaving = threading.Event()  # set by leave_all for the runs going then
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def submit(self, handle: RunHandle) -> None:
        leaving = self._leaving
        thread = threading.Thread(
            target=self._execute,
            args=(handle, lambda: self.stopping.is_set() or leaving.is_set()),
            name=f"run-{handle.run_id}",
            daemon=True,
        )
        with self._lock:
            going = self._threads.get(handle.run_id)
            if going is not None and going.is_alive():
                return  # executing here already: a second thread would only be refused
            self._threads = {i: t for i, t in self._threads.items() if t.is_alive()}
            self._threads[handle.run_id] = thread
        thread.start()

    def leave_all(self) -> None:
        """The runs going now leave before their next step (for another controller to resume);
        runs submitted afterwards go on as usual."""
        with self._lock:
            self._leaving.set()
            self._leaving = threading.Event()

    def going(self) -> list[int]:
        """The runs still executing in this process."""
        with self._lock:
            return sorted(i for i, t in self._threads.items() if t.is_alive())

    def wait(self, timeout: float | None = None) -> list[RunResult]:
        """Wait (up to `timeout` in all) for the runs going now; the results kept so far."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._lock:
            return list(self.results)

    def _execute(self, handle: RunHandle, should_stop: Callable[[], bool]) -> None:
        try:
            result = handle.execute(should_stop=should_stop)
        except BackoutError as error:  # refused: claimed by another process, ended meanwhile
            log.error("run %s: %s", handle.run_id, error)
            return
        log.info("run %s: %s", handle.run_id, result.message)
        with self._lock:
            self.results.append(result)
            del self.results[:-KEPT_RESULTS]
        if self._on_end is not None:
            self._on_end(result)
