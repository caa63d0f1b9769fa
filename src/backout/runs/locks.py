"""Subject locks: one row per locked (environment, subject), held by a run until it ends.

A run takes the lock of every subject it acts on in the transaction that stores it, one
subject after another in `canonical_order`: two runs that want overlapping subjects ask for
them in the same order, so one of them is refused and neither waits on the other forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backout.runs.records import TERMINAL, run_is_executing
from backout.store import Run, SubjectLock
from backout.subjects import Subject, SubjectKind, canonical_order

log = logging.getLogger(__name__)


def take(session: Session, environment: str, run_id: int, subjects: Iterable[Subject]) -> None:
    """Insert the locks in canonical order; the first one held raises IntegrityError on flush."""
    for subject in canonical_order(subjects):
        session.add(
            SubjectLock(
                environment=environment,
                subject_kind=subject.kind.value,
                subject_name=subject.name,
                run_id=run_id,
            )
        )
        session.flush()  # one at a time, so the order is the order the database sees


def holder(session: Session, environment: str, subject: Subject) -> int | None:
    """The run holding `subject`'s lock, if any."""
    lock = session.get(SubjectLock, (environment, subject.kind.value, subject.name))
    return lock.run_id if lock is not None else None


def first_held(
    session: Session, environment: str, subjects: Iterable[Subject]
) -> tuple[Subject, int] | None:
    """The first of `subjects` (canonical order) whose lock a run holds, and that run."""
    for subject in canonical_order(subjects):
        run_id = holder(session, environment, subject)
        if run_id is not None:
            return subject, run_id
    return None


def release(session: Session, run: Run) -> None:
    """Free every lock `run` holds."""
    session.execute(
        delete(SubjectLock)
        .where(SubjectLock.run_id == run.id)
        .execution_options(synchronize_session=False)
    )


def active_run(session: Session, environment: str, subject: Subject) -> Run | None:
    """The unfinished run holding `subject`, if one does."""
    run_id = holder(session, environment, subject)
    return session.get(Run, run_id) if run_id is not None else None


def clear_stale(session: Session, environment: str, subject: Subject) -> bool:
    """Free a lock its run can no longer free: the run ended and no process executes it (an
    aborted run's last step may still be under way: its lock waits for it)."""
    lock = session.get(SubjectLock, (environment, subject.kind.value, subject.name))
    run = session.get(Run, lock.run_id) if lock is not None else None
    if lock is None or run is None or run.state not in TERMINAL:
        return False
    if run_is_executing(session, run.id):
        return False
    session.delete(lock)
    log.warning("freed %s: its lock was held by run %s, which had ended", subject, run.id)
    return True


def locked_subjects(session: Session, environment: str, kind: SubjectKind) -> dict[str, int]:
    """Every locked subject of `kind` and the run holding it (for status views)."""
    rows = session.execute(
        select(SubjectLock.subject_name, SubjectLock.run_id).where(
            SubjectLock.environment == environment, SubjectLock.subject_kind == kind.value
        )
    )
    return {name: run_id for name, run_id in rows}
