"""The vocabulary of runs: their states, results and step events, and the queries on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.errors import ExitCode, NotFoundError
from backout.store import Run, Step
from backout.store.ids import find_by_id
from backout.store.leases import LeaseState, lease_states

# Defined with the tables: a read of them (`backout status`) need not import this module.
from backout.store.tables import TERMINAL as TERMINAL  # noqa: PLC0414 - re-exported
from backout.store.tables import RunState as RunState  # noqa: PLC0414 - re-exported
from backout.subjects import Subject, SubjectKind

RELEASE_PLANS = frozenset({"application", "deploy"})  # plans that move a service between releases


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


DONE_STEPS = frozenset({StepState.SUCCEEDED, StepState.SKIPPED})

_EXIT_CODES = {
    RunState.SUCCEEDED: ExitCode.OK,
    RunState.FAILED: ExitCode.FAILED,
    RunState.ABORTED: ExitCode.ABORTED,
    RunState.AWAITING_APPROVAL: ExitCode.AWAITING_APPROVAL,
}


@dataclass(frozen=True)
class RunResult:
    run_id: int
    state: RunState
    message: str

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT_CODES.get(self.state, ExitCode.FAILED)


@dataclass(frozen=True)
class StepEvent:
    """A step changed state; what a progress display needs."""

    run_id: int
    position: int
    total: int
    title: str
    state: StepState
    message: str


StepListener = Callable[[StepEvent], None]


def get_run(session: Session, run_id: int) -> Run:
    run = find_by_id(session, Run, run_id)
    if run is None:
        raise NotFoundError(f"there is no run {run_id}", hint="list them with: backout runs")
    return run


def subjects_of(run: Run) -> list[Subject]:
    """What the run targets, in its plan's order."""
    return [Subject(SubjectKind(s.subject_kind), s.subject_name) for s in run.subjects]


def step_subject(run: Run, step: Step) -> Subject:
    """What a step acts on (runs stored before steps named it: the run's first subject)."""
    if step.subject_kind is None or step.subject_name is None:
        return subjects_of(run)[0]
    return Subject(SubjectKind(step.subject_kind), step.subject_name)


def ended(run: Run) -> RunResult:
    """The result of a run that has already ended."""
    return RunResult(run.id, RunState(run.state), run.error or run.state)


def run_label(kind: str) -> str:
    """'deploy', 'application rollback', 'database rollback' ..."""
    return kind if kind == "deploy" else f"{kind} rollback"


def run_lease(run_id: int) -> str:
    """The name of the lease the process executing a run holds (store/leases.py)."""
    return f"run:{run_id}"


def unfinished_runs(session: Session, environment: str) -> list[Run]:
    """Runs no one executes: their lease free, expired, or its holder a process known gone.

    Left by a process that died or was cut off, left for resume by one that stopped, or made
    ready to go on by an approval.
    """
    query = select(Run).where(
        Run.environment == environment, Run.state.in_([RunState.PLANNED, RunState.RUNNING])
    )
    runs = list(session.scalars(query.order_by(Run.id)))
    leases = lease_states(session, [run_lease(run.id) for run in runs])
    return [run for run in runs if not _executing(leases.get(run_lease(run.id)))]


def run_is_executing(session: Session, run_id: int) -> bool:
    """Whether a process may be acting on the run now (it holds its lease)."""
    return _executing(lease_states(session, [run_lease(run_id)]).get(run_lease(run_id)))


def _executing(lease: LeaseState | None) -> bool:
    return lease is not None and lease.held


def step_summary(run: Run) -> list[dict[str, Any]]:
    return [
        {
            "position": s.position,
            "kind": s.kind,
            "title": s.title,
            "subject": str(step_subject(run, s)),
            "state": s.state,
            "attempts": s.attempts,
            "message": s.message,
            "output": s.output,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "finished_at": s.finished_at.isoformat() if s.finished_at else None,
        }
        for s in run.steps
    ]
