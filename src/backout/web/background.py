"""The server's threads: the watch loop, runs resumed at start-up, and runs started over the API.

Steps block (a deploy, a monitor window), so runs go on in threads while requests are answered.
On shutdown the threads get a short grace; a run cut off then is resumed at the next start,
as the executor's durable steps allow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from backout.controller.watch import Watcher
from backout.errors import BackoutError
from backout.operations.api_support import unfinished_run_ids
from backout.runs.executor import Executor
from backout.runtime import Runtime

log = logging.getLogger(__name__)

RESUME_ACTOR = "backout-serve"


class BackgroundWork:
    """Starts and stops everything the server does besides answering requests."""

    def __init__(self, runtime: Runtime, *, watch: bool, grace_s: float = 5.0) -> None:
        self.runtime = runtime
        self.watcher = Watcher(runtime) if watch else None
        self.grace_s = grace_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Resume what a dead process left unfinished, and start the watch loop."""
        for run_id in unfinished_run_ids(self.runtime):
            self.execute(run_id, actor=RESUME_ACTOR)
        if self.watcher is not None:
            self._spawn("watch", self._watch)

    def stop(self) -> None:
        """Stop the watch loop and give running threads `grace_s` to end."""
        self._stop.set()
        deadline = time.monotonic() + self.grace_s
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.watcher is not None:
            self.watcher.wait_for_runs(max(0.0, deadline - time.monotonic()))
        left = [t.name for t in threads if t.is_alive()]
        if left:
            log.warning(
                "stopping with %s still going; unfinished runs resume at the next start", left
            )

    @property
    def watching(self) -> bool:
        return self.watcher is not None and not self._stop.is_set()

    def decisions(self) -> dict[str, str]:
        return dict(self.watcher.last_decisions) if self.watcher is not None else {}

    def execute(self, run_id: int, *, actor: str) -> None:
        """Execute (or go on with) `run_id` in a thread, recording `actor` on what it does."""
        executor = Executor(self.runtime, actor=actor)
        self._spawn(f"run-{run_id}", lambda: self._log_errors(run_id, executor))

    def _log_errors(self, run_id: int, executor: Executor) -> None:
        try:
            result = executor.execute(run_id)
        except BackoutError as error:
            log.error("run %s: %s", run_id, error)
        else:
            log.info("run %s: %s", run_id, result.message)

    def _watch(self) -> None:
        """Keep the watch loop alive: an unexpected crash is logged and the loop restarted."""
        assert self.watcher is not None
        interval = self.runtime.config.watch.interval.total_seconds()
        while not self._stop.is_set():
            try:
                self.watcher.run_forever(self._stop)
            except Exception:
                log.exception("the watch loop crashed; restarting it in %ss", interval)
                self._stop.wait(interval)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
