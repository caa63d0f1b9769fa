"""backout's own tables. Changes to them go through an Alembic migration in store/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which has no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use backout.store.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Release(Base):
    """One version of one service, as shipped; `status` is its verdict."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("environment", "service", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(128))
    ref: Mapped[str | None] = mapped_column(String(512))
    schema_revision: Mapped[str | None] = mapped_column(String(128))
    flag_snapshot: Mapped[dict[str, Any] | None]
    config_digest: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    baseline: Mapped[dict[str, Any] | None]
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    live_at: Mapped[datetime | None]
    good_at: Mapped[datetime | None]


class Deployment(Base):
    """A release put live, by a deploy or a rollback; the newest per service is what runs."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(128), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    release: Mapped[Release] = relationship()


class Run(Base):
    """One execution of a plan."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(128), index=True)
    from_release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    target_release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    target: Mapped[str | None] = mapped_column(String(256))  # a version, a revision, a time
    reason: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(24), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    actor: Mapped[str] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    rpo_s: Mapped[float | None]  # a restore's data-loss window, as achieved
    restore_s: Mapped[float | None]  # how long the restore itself took

    steps: Mapped[list[Step]] = relationship(order_by="Step.position", back_populates="run")
    from_release: Mapped[Release | None] = relationship(foreign_keys=[from_release_id])
    target_release: Mapped[Release | None] = relationship(foreign_keys=[target_release_id])


class Step(Base):
    """One step of a run, with its progress record; unique per (run, position)."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(256))
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[dict[str, Any] | None]
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    run: Mapped[Run] = relationship(back_populates="steps")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per subject: a second detector joins it instead (incidents/).
        Index(
            "uq_incidents_open_per_subject",
            "environment",
            "service",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(256))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str | None] = mapped_column(String(128))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    rto_s: Mapped[float]
    impact_started_at: Mapped[datetime | None]
    detected_at: Mapped[datetime]
    recovered_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    rpo_s: Mapped[float | None]  # the data-loss window a restore achieved
    rpo_objective_s: Mapped[float | None]
    restore_s: Mapped[float | None]

    events: Mapped[list[TimelineEvent]] = relationship(
        order_by="TimelineEvent.id", back_populates="incident"
    )


class TimelineEvent(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="events")


class ServiceLock(Base):
    """One row per locked (environment, service): inserting it is taking the lock."""

    __tablename__ = "service_locks"

    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """Who may act on a named thing ("run:12", "watch:production") until when (store/leases.py).

    `expires_at` is in seconds since the epoch by the *database's* clock, never a client's;
    `fencing` grows by one each time the lease changes hands, and never goes back.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    fencing: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Double)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any] | None]


class BackupRecord(Base):
    """A backup backout took, with the row counts it saw: what integrity checks compare with."""

    __tablename__ = "db_backups"
    __table_args__ = (UniqueConstraint("environment", "database", "backup_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    database: Mapped[str] = mapped_column(String(128), index=True)
    engine: Mapped[str] = mapped_column(String(32))
    backup_id: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    row_counts: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_by: Mapped[str] = mapped_column(String(128))


class FlagRecord(Base):
    """A feature flag of the builtin provider, per environment, as the Unleash API serves it."""

    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("environment", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool]
    strategies: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    to_remove: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlagChange(Base):
    """Who changed a flag, when, why, from what to what (whichever provider holds the flag)."""

    __tablename__ = "flag_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    environment: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(256), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any]]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
