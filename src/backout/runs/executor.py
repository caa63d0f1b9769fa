"""Durable execution of a plan (DESIGN.md, "Durable execution").

- The whole plan is written to the store before its first step runs (runs/storing.py).
- A step is marked `running` before it acts and `succeeded`/`failed`/`skipped` after, each in
  its own transaction, so the store always says how far a run got.
- A run found unfinished is resumed: a step found `running` is first asked to `observe()` the
  world and is re-run only if it did not take effect.
- One lock per (environment, subject) the run acts on (runs/locks.py), all taken with the run
  in one transaction and freed when it ends; a second run of a subject is refused, naming the
  subject and the holder.
- A run is executed by one process at a time, the holder of its lease `run:<id>` (taken at
  creation and at claim, renewed by a heartbeat thread; store/leases.py). A run whose lease
  expired, or whose holder is a process of this node that is gone, may be taken over. Every
  step write checks the lease's fencing number in its own transaction, and each step checks
  the lease is still valid by the local clock before it acts: a process that lost its lease
  (paused, cut off) records nothing and does nothing more (FencedError).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from backout import failpoints
from backout.audit import audit
from backout.config import StepSettings
from backout.errors import (
    AwaitingApprovalError,
    BackoutError,
    FencedError,
    RefusedError,
    StepFailedError,
)
from backout.incidents import EventKind, add_event, resolve, withdraw_recovery
from backout.redact import redact, redact_json, redact_optional
from backout.runs import locks
from backout.runs.records import (
    DONE_STEPS,
    TERMINAL,
    RunResult,
    RunState,
    StepEvent,
    StepListener,
    StepState,
    ended,
    get_run,
    run_label,
    run_lease,
    step_subject,
)
from backout.runtime import Runtime
from backout.steps import STEP_KINDS, StepContext, StepOutcome
from backout.steps.base import EarlierStep
from backout.steps.deploy import down_note, mark_deploy_failed, put_previous_back
from backout.store import Incident, Run, Step
from backout.store.leases import (
    Grant,
    LeaseKeeper,
    acquire,
    hold,
    lease_state,
    release,
    this_process,
)
from backout.subjects import Subject, SubjectKind

log = logging.getLogger(__name__)


class Executor:
    """Runs stored plans step by step; one instance per process is enough."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        actor: str = "backout",
        on_step: StepListener | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.runtime = runtime
        self.actor = actor
        self.on_step = on_step
        self.should_stop = should_stop  # asked before each step: a controller shutting down
        self.owner = this_process()  # the holder of the leases of the runs it executes
        state = runtime.config.state
        self.lease_s = state.lease.total_seconds()
        self.renew_s = state.lease_renew.total_seconds()
        self._leases: dict[int, LeaseKeeper] = {}

    def lease(self, run_id: int) -> LeaseKeeper | None:
        """The lease this executor holds on `run_id` while it executes it."""
        return self._leases.get(run_id)

    def execute(self, run_id: int) -> RunResult:
        """Run (or go on with) `run_id` until it ends or stops at an approval gate."""
        with _IN_THIS_PROCESS.lock:  # the owner names the process; this guards its threads
            if run_id in _IN_THIS_PROCESS.run_ids:
                raise RefusedError(f"run {run_id} is already being executed by this process")
            _IN_THIS_PROCESS.run_ids.add(run_id)
        try:
            self._claim(run_id)
            with self.runtime.store.fenced(self._fence(run_id)):
                return self._execute_claimed(run_id)
        finally:
            self._let_go(run_id)  # also when the claim was refused: an aborted run we created
            keeper = self._leases.pop(run_id, None)
            if keeper is not None:
                keeper.stop()
            with _IN_THIS_PROCESS.lock:
                _IN_THIS_PROCESS.run_ids.discard(run_id)

    def _execute_claimed(self, run_id: int) -> RunResult:
        while True:
            with self.runtime.store.session() as session:
                run = get_run(session, run_id)
                if run.state in TERMINAL:  # aborted by someone else meanwhile
                    return ended(run)
                step = next((s for s in run.steps if s.state not in DONE_STEPS), None)
                total = len(run.steps)
            if step is None:
                return self._finish(run_id, RunState.SUCCEEDED, None)
            if step.state == StepState.FAILED:  # died between failing a step and the run
                return self._finish(run_id, RunState.FAILED, _failure(step, step.message))
            if self.should_stop is not None and self.should_stop():
                return self._leave_for_resume(run_id, step, total)
            try:
                self._advance(run_id, step, total)
            except AwaitingApprovalError as waiting:
                return self._await_approval(run_id, waiting)
            except FencedError:
                raise  # another process has the run now: nothing more is ours to record
            except BackoutError as error:
                return self._finish(run_id, RunState.FAILED, _failure(step, error.message))

    def _claim(self, run_id: int) -> None:
        """Take the run's lease (compare-and-set) and mark the run running; refused while
        another process holds the lease."""
        asked_at = time.monotonic()
        with self.runtime.store.session() as session:
            run = get_run(session, run_id)
            if run.state in TERMINAL:
                raise RefusedError(f"run {run_id} has already ended: {run.state}")
            grant = acquire(session, run_lease(run_id), self.owner, self.lease_s)
            if grant is None:
                raise self._executed_elsewhere(session, run_id)
            claimed = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.state.not_in(tuple(TERMINAL)))  # an abort stands
                .values(
                    owner=self.owner,
                    state=RunState.RUNNING,
                    started_at=run.started_at or self.runtime.clock.now(),
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise RefusedError(f"run {run_id} was ended by someone else just now")
        self._leases[run_id] = self._keep(grant, asked_at)

    def _keep(self, grant: Grant, granted_at: float) -> LeaseKeeper:
        keeper = LeaseKeeper(
            lambda: self.runtime.store.session(fenced=False),
            grant,
            lease_s=self.lease_s,
            renew_s=self.renew_s,
            granted_at=granted_at,
        )
        return keeper.start()

    def _executed_elsewhere(self, session: Session, run_id: int) -> RefusedError:
        lease = lease_state(session, run_lease(run_id))
        holder = lease.holder if lease is not None else "another process"
        left = f" (its lease runs {lease.remaining_s:.0f}s more)" if lease is not None else ""
        return RefusedError(
            f"run {run_id} is being executed by {holder}{left}",
            hint="wait for it, or abort it: backout abort " + str(run_id),
        )

    def _let_go(self, run_id: int) -> None:
        """Give up ownership; a run that ended meanwhile (an abort) frees its service only now."""
        keeper = self._leases.get(run_id)
        with self.runtime.store.session() as session:
            run = get_run(session, run_id)
            if keeper is not None and not keeper.lost.is_set():
                release(session, keeper.grant)  # a no-op if it changed hands meanwhile
                if run.owner == self.owner:
                    run.owner = None
            if run.state in TERMINAL:
                locks.release(session, run)

    def _advance(self, run_id: int, step: Step, total: int) -> None:
        kind = STEP_KINDS[step.kind]
        ctx = self._context(run_id, step)
        retries = self._step_settings(ctx.subject).retries
        if step.state == StepState.RUNNING:  # the process died while this step acted
            self._leases[run_id].check()
            observed = self._observe(step, total, ctx, retries)
            if observed is not None:
                self._record(step, total, observed, note="(observed after an interruption) ")
                return
        while True:
            attempt = self._mark_running(step, total)
            self._leases[run_id].check()  # a pause since the write above: act on nothing
            try:
                outcome = kind.run(ctx, step.params)
            except AwaitingApprovalError:
                self._set_step(step, StepState.PENDING, None)
                raise
            except BackoutError as error:
                if error.retryable and attempt <= retries:
                    log.warning(
                        "run %s step %s attempt %s: %s", run_id, step.position, attempt, error
                    )
                    self.runtime.clock.sleep(min(2.0**attempt, 30.0))
                    if not self._hasended(run_id):  # an abort during the back-off stops it
                        continue
                self._fail_step(step, total, error.message)
                raise
            except Exception as error:  # a bug or an untranslated library error
                log.exception("run %s step %s crashed", run_id, step.position)
                message = f"unexpected {type(error).__name__}: {error}"
                self._fail_step(step, total, message)
                raise StepFailedError(message) from error
            failpoints.hit("executor.after_act", step.position)
            self._record(step, total, outcome)
            failpoints.hit("executor.after_step", step.position)
            return

    def _observe(
        self, step: Step, total: int, ctx: StepContext, retries: int
    ) -> StepOutcome | None:
        """Ask an interrupted step whether it took effect, retrying what a retry can help."""
        kind = STEP_KINDS[step.kind]
        for attempt in range(1, retries + 2):
            try:
                return kind.observe(ctx, step.params)
            except BackoutError as error:
                if not error.retryable or attempt > retries:
                    self._fail_step(step, total, f"could not tell whether it took effect: {error}")
                    raise
                self.runtime.clock.sleep(min(2.0**attempt, 30.0))
            except Exception as error:  # a bug or an untranslated library error
                log.exception("run %s step %s: observe crashed", ctx.run_id, step.position)
                message = f"could not tell whether it took effect: {type(error).__name__}: {error}"
                self._fail_step(step, total, message)
                raise StepFailedError(message) from error
        return None  # pragma: no cover - the loop returns or raises

    def _hasended(self, run_id: int) -> bool:
        with self.runtime.store.session() as session:
            return get_run(session, run_id).state in TERMINAL

    def _context(self, run_id: int, step: Step) -> StepContext:
        with self.runtime.store.session() as session:
            run = get_run(session, run_id)
            subject, incident_id = step_subject(run, _step_row(session, step.id)), run.incident_id
            recorded = dict(_step_row(session, step.id).output or {})
            earlier = [
                EarlierStep(s.position, s.kind, step_subject(run, s), dict(s.output or {}))
                for s in run.steps
                if s.position < step.position
            ]
            later = [s.kind for s in run.steps if s.position > step.position]
        default_timeout = self._step_settings(subject).timeout.total_seconds()
        timeout = float(step.params.get("timeout_s", default_timeout))
        return StepContext(
            runtime=self.runtime,
            run_id=run_id,
            subject=subject,
            position=step.position,
            actor=self.actor,
            incident_id=incident_id,
            deadline=self.runtime.clock.monotonic() + timeout,
            recorded_output=recorded,
            earlier=earlier,
            later_kinds=later,
        )

    def _step_settings(self, subject: Subject) -> StepSettings:
        """A service's step settings; the defaults for a step on another subject (a database)."""
        if subject.kind is not SubjectKind.SERVICE:
            return StepSettings()
        service = self.runtime.config.services.get(subject.name)
        return service.steps if service is not None else StepSettings()

    def _fence(self, run_id: int) -> Callable[[Session], None]:
        """First in every transaction of the run's thread while it executes — the executor's
        own writes and those its steps make: FencedError once another holder took over."""
        grant = self._leases[run_id].grant
        return lambda session: hold(session, grant)

    def _mark_running(self, step: Step, total: int) -> int:
        with self.runtime.store.session() as session:
            row = _step_row(session, step.id)
            row.state = StepState.RUNNING
            row.attempts += 1
            row.started_at = row.started_at or self.runtime.clock.now()
            attempts = row.attempts
            self._timeline(
                session,
                row.run,
                EventKind.STEP_STARTED,
                f"step {row.position}/{total}: {row.title}",
            )
        self._emit(step, total, StepState.RUNNING, "")
        return attempts

    def _record(self, step: Step, total: int, outcome: StepOutcome, note: str = "") -> None:
        message = note + outcome.message
        self._finish_step(step, total, StepState(outcome.state), message, outcome.output)

    def _fail_step(self, step: Step, total: int, message: str) -> None:
        self._finish_step(step, total, StepState.FAILED, message, {})

    def _finish_step(
        self, step: Step, total: int, state: StepState, message: str, output: dict[str, Any]
    ) -> None:
        """Record how a step ended, on the step and on the incident's timeline."""
        with self.runtime.store.session() as session:
            row = _step_row(session, step.id)
            row.state = state
            row.message = redact(message)
            row.output = {**(row.output or {}), **redact_json(output)}
            row.finished_at = self.runtime.clock.now()
            self._timeline(
                session,
                row.run,
                _STEP_EVENTS[state],
                f"step {row.position}/{total} {state}: {row.title} — {message}",
            )
        self._emit(step, total, state, message)

    def _set_step(self, step: Step, state: StepState, message: str | None) -> None:
        with self.runtime.store.session() as session:
            row = _step_row(session, step.id)
            row.state = state
            row.message = redact_optional(message)

    def _leave_for_resume(self, run_id: int, step: Step, total: int) -> RunResult:
        """Stop between steps: the run stays unfinished, owned by no one, for the next start."""
        message = (
            f"left before step {step.position}/{total} ({step.title}): this process is "
            "stopping; the run resumes when a controller starts again"
        )
        with self.runtime.store.session() as session:
            self._timeline(
                session, get_run(session, run_id), EventKind.RUN_LEFT_FOR_RESUME, message
            )
        return RunResult(run_id, RunState.RUNNING, message)

    def _await_approval(self, run_id: int, waiting: AwaitingApprovalError) -> RunResult:
        with self.runtime.store.session() as session:
            run = get_run(session, run_id)
            if run.state in TERMINAL:  # aborted as the gate was reached: the abort stands
                return ended(run)
            if run.state != RunState.AWAITING_APPROVAL:
                run.state = RunState.AWAITING_APPROVAL
                self._timeline(session, run, EventKind.AWAITING_APPROVAL, waiting.message)
        return RunResult(run_id, RunState.AWAITING_APPROVAL, str(waiting))

    def _finish(self, run_id: int, state: RunState, error: str | None) -> RunResult:
        down = self._down_after(run_id, state)  # a driver call: outside the write transaction
        with self.runtime.store.session() as session:
            run = get_run(session, run_id)
            if run.state in TERMINAL:  # aborted meanwhile: the abort stands
                return ended(run)
            run.state = state
            run.error = redact_optional(error)
            run.finished_at = self.runtime.clock.now()
            locks.release(session, run)
            target = run.target or "?"
            message = f"{run_label(run.kind)} of {_aims(run)} {state}"
            if error:
                message += f": {error}"
            message += down
            if run.kind == "deploy" and state is RunState.FAILED:
                mark_deploy_failed(run, redact(error or "the deploy failed"))
            self._timeline(session, run, _RUN_EVENTS[state], message)
            audit(session, self.actor, f"run.{run.kind}.{state}", run.service, run_id=run.id)
            incident = session.get(Incident, run.incident_id) if run.incident_id else None
            if incident is not None:
                self._settle_incident(session, incident, state, target)
            put_back = run.kind == "deploy" and state is RunState.FAILED
        if put_back:
            self._leases[run_id].check()
            message += put_previous_back(self.runtime, run_id, self.actor)
        log.info("run %s %s: %s", run_id, state, message)
        return RunResult(run_id, state, message)

    def _down_after(self, run_id: int, state: RunState) -> str:
        """A failed application rollback's note that nothing of its service runs now, or ''."""
        if state is not RunState.FAILED:
            return ""
        with self.runtime.store.session() as session:
            run = get_run(session, run_id)
            kind, service = run.kind, run.service
        return down_note(self.runtime, service) if kind == "application" and service else ""

    def _settle_incident(
        self, session: Session, incident: Incident, state: RunState, target: str
    ) -> None:
        """Resolve only a verified recovery; a run that failed after it takes the recovery back."""
        if state is RunState.SUCCEEDED and incident.recovered_at is not None:
            resolve(session, incident, f"rolled back to {target} and verified", actor=self.actor)
        elif state is RunState.SUCCEEDED:
            add_event(
                session,
                incident.id,
                EventKind.UNVERIFIED,
                f"rolled back to {target}, but no health check verified the recovery: "
                "check the service and resolve the incident by hand",
                actor=self.actor,
            )
        elif incident.recovered_at is not None:
            withdraw_recovery(session, incident, actor=self.actor)

    def _timeline(self, session: Session, run: Run, kind: EventKind, message: str) -> None:
        if run.incident_id is not None:
            add_event(session, run.incident_id, kind, message, actor=self.actor, run_id=run.id)

    def _emit(self, step: Step, total: int, state: StepState, message: str) -> None:
        if self.on_step is not None:
            self.on_step(StepEvent(step.run_id, step.position, total, step.title, state, message))


_STEP_EVENTS = {
    StepState.SUCCEEDED: EventKind.STEP_SUCCEEDED,
    StepState.SKIPPED: EventKind.STEP_SKIPPED,
    StepState.FAILED: EventKind.STEP_FAILED,
}
_RUN_EVENTS = {RunState.SUCCEEDED: EventKind.RUN_SUCCEEDED, RunState.FAILED: EventKind.RUN_FAILED}


@dataclass
class _Executing:
    lock: threading.Lock = field(default_factory=threading.Lock)
    run_ids: set[int] = field(default_factory=set)


_IN_THIS_PROCESS = _Executing()


def _aims(run: Run) -> str:
    """What the run aims at, as Plan.aims says it."""
    aims = [f"{s.subject_name} to {s.target_version}" for s in run.subjects]
    return ", ".join(aims) if len(aims) > 1 else f"{run.service} to {run.target or '?'}"


def _step_row(session: Session, step_id: int) -> Step:
    row = session.get(Step, step_id)
    if row is None:  # the plan is stored before any step runs: a missing row is a bug
        raise StepFailedError(f"step {step_id} is missing from the store")
    return row


def _failure(step: Step, message: str | None) -> str:
    return f"step {step.position} ({step.title}) failed: {message}"
