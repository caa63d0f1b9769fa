"""backout's ORM classes, mapped onto the tables of store/tables.py (the schema is defined there,
once): what the code that changes the store works with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

from backout.store import tables


class Base(DeclarativeBase):
    metadata = tables.with_partial_indexes()


class Release(Base):
    """One version of one service, as shipped; `status` is its verdict."""

    __table__ = tables.releases

    id: Mapped[int]
    environment: Mapped[str]
    service: Mapped[str]
    version: Mapped[str]
    ref: Mapped[str | None]
    schema_revision: Mapped[str | None]
    flag_snapshot: Mapped[dict[str, Any] | None]
    config_digest: Mapped[str | None]
    status: Mapped[str]
    status_reason: Mapped[str | None]
    baseline: Mapped[dict[str, Any] | None]
    advisories: Mapped[list[str] | None]
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    live_at: Mapped[datetime | None]
    good_at: Mapped[datetime | None]


class Deployment(Base):
    """A release put live, by a deploy or a rollback; the newest per service is what runs."""

    __table__ = tables.deployments

    id: Mapped[int]
    environment: Mapped[str]
    service: Mapped[str]
    release_id: Mapped[int]
    run_id: Mapped[int | None]
    actor: Mapped[str]
    at: Mapped[datetime]

    release: Mapped[Release] = relationship()


class Run(Base):
    """One execution of a plan."""

    __table__ = tables.runs

    id: Mapped[int]
    environment: Mapped[str]
    kind: Mapped[str]
    # The run's first subject as a person reads it (`backend`, `database:main`): a label to list
    # and filter by; what the run acts on is in `subjects`, typed.
    service: Mapped[str]
    from_release_id: Mapped[int | None]
    target_release_id: Mapped[int | None]
    target: Mapped[str | None]  # a version, a revision, a time
    reason: Mapped[str]
    trigger: Mapped[str | None]
    state: Mapped[str]
    incident_id: Mapped[int | None]
    actor: Mapped[str]
    error: Mapped[str | None]
    owner: Mapped[str | None]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    rpo_s: Mapped[float | None]  # a restore's data-loss window, as achieved
    restore_s: Mapped[float | None]  # how long the restore itself took

    steps: Mapped[list[Step]] = relationship(order_by="Step.position", back_populates="run")
    subjects: Mapped[list[RunSubject]] = relationship(
        order_by="RunSubject.position", back_populates="run"
    )
    from_release: Mapped[Release | None] = relationship(
        foreign_keys=[tables.runs.c.from_release_id]
    )
    target_release: Mapped[Release | None] = relationship(
        foreign_keys=[tables.runs.c.target_release_id]
    )


class Step(Base):
    """One step of a run, with its progress record; unique per (run, position)."""

    __table__ = tables.steps

    id: Mapped[int]
    run_id: Mapped[int]
    position: Mapped[int]
    kind: Mapped[str]
    title: Mapped[str]
    subject_kind: Mapped[str | None]  # what the step acts on
    subject_name: Mapped[str | None]
    params: Mapped[dict[str, Any]]
    state: Mapped[str]
    attempts: Mapped[int]
    output: Mapped[dict[str, Any] | None]
    message: Mapped[str | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    run: Mapped[Run] = relationship(back_populates="steps")


class Incident(Base):
    __table__ = tables.incidents

    id: Mapped[int]
    environment: Mapped[str]
    service: Mapped[str]
    title: Mapped[str]
    severity: Mapped[str]
    status: Mapped[str]
    trigger: Mapped[str | None]
    release_id: Mapped[int | None]
    rto_s: Mapped[float]
    impact_started_at: Mapped[datetime | None]
    detected_at: Mapped[datetime]
    recovered_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    rpo_s: Mapped[float | None]  # the data-loss window a restore achieved
    rpo_objective_s: Mapped[float | None]
    restore_s: Mapped[float | None]
    category: Mapped[str]

    events: Mapped[list[TimelineEvent]] = relationship(
        order_by="TimelineEvent.id", back_populates="incident"
    )


class TimelineEvent(Base):
    __table__ = tables.timeline_events

    id: Mapped[int]
    incident_id: Mapped[int]
    run_id: Mapped[int | None]
    at: Mapped[datetime]
    actor: Mapped[str]
    kind: Mapped[str]
    message: Mapped[str]
    evidence: Mapped[list[dict[str, Any]] | None]

    incident: Mapped[Incident] = relationship(back_populates="events")


class SubjectLock(Base):
    """One row per locked (environment, subject): inserting it is taking the lock. A lock
    belongs to its run, not to a process: it is freed when the run ends."""

    __table__ = tables.subject_locks

    environment: Mapped[str]
    subject_kind: Mapped[str]
    subject_name: Mapped[str]
    run_id: Mapped[int]
    acquired_at: Mapped[datetime]


class RunSubject(Base):
    """A subject a run acts on, in the run's order; with the versions a release plan moves
    that service between (a several-service rollback has one pair per service)."""

    __table__ = tables.run_subjects

    run_id: Mapped[int]
    position: Mapped[int]
    subject_kind: Mapped[str]
    subject_name: Mapped[str]
    from_version: Mapped[str | None]
    target_version: Mapped[str | None]

    run: Mapped[Run] = relationship(back_populates="subjects")


class ApiToken(Base):
    __table__ = tables.api_tokens

    id: Mapped[int]
    name: Mapped[str]
    role: Mapped[str]
    token_hash: Mapped[str]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    __table__ = tables.audit_log

    id: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str]
    action: Mapped[str]
    target: Mapped[str]
    detail: Mapped[dict[str, Any] | None]


class BackupRecord(Base):
    """A backup backout took, with the row counts it saw: what integrity checks compare with."""

    __table__ = tables.db_backups

    id: Mapped[int]
    environment: Mapped[str]
    database: Mapped[str]
    engine: Mapped[str]
    backup_id: Mapped[str]
    kind: Mapped[str]
    location: Mapped[str]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    size_bytes: Mapped[int | None]
    row_counts: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None]
    run_id: Mapped[int | None]
    created_by: Mapped[str]


class FlagChange(Base):
    """Who changed a flag, when, why, from what to what (whichever provider holds the flag)."""

    __table__ = tables.flag_changes

    id: Mapped[int]
    environment: Mapped[str]
    key: Mapped[str]
    at: Mapped[datetime]
    actor: Mapped[str]
    reason: Mapped[str | None]
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any]]
    incident_id: Mapped[int | None]
    run_id: Mapped[int | None]


class Lease(Base):
    """Who may act on a named thing until when: see tables.leases and store/leases.py."""

    __table__ = tables.leases

    name: Mapped[str]
    holder: Mapped[str | None]
    fencing: Mapped[int]
    expires_at: Mapped[float]
