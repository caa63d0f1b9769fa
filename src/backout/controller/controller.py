"""The controller owns everything long-running: the watch loop, orphaned runs, background runs.

`backout watch` runs it in the foreground, `backout serve` beside the API. Started, it resumes
the runs a dead process left unfinished, and keeps looking for such runs while it watches
(a CLI rollback killed mid-step is taken over within `RESUME_SWEEP_S`). Stopped (Ctrl-C,
SIGTERM), it ends the watch loop after its cycle, lets no run begin another step, and gives
the runs `grace_s` to finish the step they are in; a run still mid-step then is left for the
next start to resume, as durable execution allows (its step is observed before anything is
done again), and `stop()` names it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from backout.controller.background import BackgroundRuns
from backout.controller.watch import Watcher
from backout.runs.records import RunResult, RunState, unfinished_runs
from backout.runs.start import RunHandle, StoredRun, start_run
from backout.runtime import Runtime

log = logging.getLogger(__name__)

CONTROLLER_ACTOR = "backout-controller"
RESUME_SWEEP_S = 10.0  # how often orphaned runs are looked for while the controller watches


class Controller:
    """The watch loop (optional), orphaned runs resumed, and the runs going in the background."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        watch: bool = True,
        on_change: Callable[[str], None] | None = None,
        actor: str = CONTROLLER_ACTOR,
    ) -> None:
        self.runtime = runtime
        self.actor = actor
        self.on_change = on_change  # what it decides or does, one sentence each
        self._stop = threading.Event()
        self.runs = BackgroundRuns(self._stop)
        self.watcher = Watcher(runtime, runner=self.runs, on_change=on_change) if watch else None
        self._loop: threading.Thread | None = None
        self._next_sweep = 0.0

    @property
    def watching(self) -> bool:
        return self.watcher is not None and not self._stop.is_set()

    def decisions(self) -> dict[str, str]:
        return dict(self.watcher.last_decisions) if self.watcher is not None else {}

    def submit(self, handle: RunHandle) -> None:
        """Execute a run in the background (an API rollback, an approved run)."""
        self.runs.submit(handle)

    def resume_orphans(self) -> list[int]:
        """Take over the runs whose owner died; returns their ids."""
        with self.runtime.store.session() as session:
            orphans = [run.id for run in unfinished_runs(session, self.runtime.environment)]
        for run_id in orphans:
            said = f"run {run_id}: left unfinished by a process that is gone; resuming it"
            log.info("%s", said)
            if self.on_change is not None:
                self.on_change(said)
            self.runs.submit(start_run(self.runtime, StoredRun(run_id, self.actor)))
        return orphans

    def cycle(self) -> list[str]:
        """One turn: resume orphans when due, then one watch cycle; what the cycle decided."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + RESUME_SWEEP_S
            self.resume_orphans()
        return self.watcher.run_cycle() if self.watcher is not None else []

    def run_forever(self) -> None:
        """Turn until `stop()`; an unexpected crash of a turn is logged and the loop goes on."""
        interval = self.runtime.config.watch.interval.total_seconds()
        while not self._stop.is_set():
            try:
                self.cycle()
            except Exception:
                log.exception("a controller cycle crashed; going on in %ss", interval)
            self._stop.wait(interval)

    def start(self) -> None:
        """Run the loop in a thread of its own (beside the API server)."""
        self._loop = threading.Thread(target=self.run_forever, name="controller", daemon=True)
        self._loop.start()

    def wait_for_runs(self, timeout: float | None = None) -> list[RunResult]:
        return self.runs.wait(timeout)

    def request_stop(self) -> None:
        """Ask the loop and the runs to stop; returns at once (safe in a signal handler)."""
        self._stop.set()

    def stop(self, grace_s: float = 5.0) -> list[str]:
        """Stop turning and let runs end their step; says what was left for the next start."""
        self._stop.set()
        deadline = time.monotonic() + grace_s
        if self._loop is not None and self._loop is not threading.current_thread():
            self._loop.join(max(0.0, deadline - time.monotonic()))
        results = self.runs.wait(max(0.0, deadline - time.monotonic()))
        left = [f"run {r.run_id}: {r.message}" for r in results if r.state is RunState.RUNNING] + [
            f"run {run_id} is mid-step: the step is left running in the store, and is observed, "
            "then finished, when a controller starts again (backout watch, serve or resume)"
            for run_id in self.runs.going()
        ]
        for sentence in left:
            log.info("%s", sentence)  # the caller says it; a warning would say it twice
        return left
