"""The one way a run starts: a plan becomes a stored run, and a handle executes it.

Every caller — a CLI command, an API route, the watch loop, a quickstart — asks `start_run`:

- `NewRun`: the plan a person previewed (and confirmed), with who, why, the trigger and the
  incident. The plan is stored as it is, with its locks, in one transaction; nothing re-plans
  it, so what was previewed is what runs. A release plan made for a live release that has
  changed since is refused.
- `StoredRun`: a run already in the store — one left unfinished by a process that died, or one
  an approval let go on.

The handle executes the run in the foreground (`execute`), or hands it to a `BackgroundRunner`
(the controller's) and returns at once. Nothing else builds the executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from backout.runs.executor import Executor
from backout.runs.records import RunResult, StepListener
from backout.runs.storing import NewRun, store_run
from backout.runtime import Runtime

__all__ = ["BackgroundRunner", "NewRun", "RunHandle", "StoredRun", "start_run"]


@dataclass(frozen=True)
class StoredRun:
    """A run already stored: resumed after a crash, or going on after an approval."""

    run_id: int
    actor: str


class BackgroundRunner(Protocol):
    """Executes handles off the caller's thread (the controller); `submit` returns at once."""

    def submit(self, handle: RunHandle) -> None: ...


class RunHandle:
    """A stored run, ready to be executed here or in the background."""

    def __init__(self, runtime: Runtime, run_id: int, actor: str) -> None:
        self.runtime = runtime
        self.run_id = run_id
        self.actor = actor

    def execute(
        self,
        on_step: StepListener | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run (or go on with) the run until it ends, stops at an approval gate, or — asked
        before each step — `should_stop` says this process is stopping (it is then left
        `running`, owned by no one, for the next controller to resume)."""
        executor = Executor(
            self.runtime, actor=self.actor, on_step=on_step, should_stop=should_stop
        )
        return executor.execute(self.run_id)

    def execute_in_background(self, runner: BackgroundRunner) -> RunHandle:
        runner.submit(self)
        return self

    def __repr__(self) -> str:
        return f"RunHandle(run_id={self.run_id}, actor={self.actor!r})"


def start_run(runtime: Runtime, request: NewRun | StoredRun) -> RunHandle:
    """Store a new run (with its locks and incident) or find a stored one; execute nothing yet."""
    if isinstance(request, StoredRun):
        return RunHandle(runtime, request.run_id, request.actor)
    run_id = store_run(runtime, request)
    return RunHandle(runtime, run_id, request.actor)
