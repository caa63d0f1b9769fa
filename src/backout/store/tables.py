"""backout's own tables, as SQLAlchemy Core defines them: the one description of the schema.

The ORM classes of store/models.py are mapped onto these tables; a read that needs rows, not
objects (`backout status`, the builtin flag provider) queries them directly and so never
imports `sqlalchemy.orm` (a tenth of a second at every start). Changes to them go through an
Alembic migration in store/migrations; a test compares the two.

Columns are NOT NULL unless `nullable=True` says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from backout.categories import IncidentCategory


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


class ReleaseStatus(StrEnum):
    """What `releases.status` holds."""

    DEPLOYING = "deploying"
    LIVE = "live"
    FAILED = "failed"  # its deploy failed; it never became the live release
    GOOD = "good"
    BAD = "bad"
    ROLLED_BACK = "rolled_back"
    # The target of a rollback that failed too while it was watched: never rolled back to
    # again by backout on its own; a person decides (`backout release mark`).
    SUSPECT = "suspect"


class RunState(StrEnum):
    """What `runs.state` holds."""

    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"


TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.ABORTED})

metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


def _created(name: str) -> Column[datetime]:
    """A moment set when the row is inserted."""
    return Column(name, UTCDateTime, nullable=False, default=utcnow)


def _moment(name: str) -> Column[datetime]:
    """A moment set later in the row's life, if ever."""
    return Column(name, UTCDateTime, nullable=True)


def _references(name: str, table: str, *, nullable: bool = True) -> Column[int]:
    return Column(name, Integer, ForeignKey(f"{table}.id"), nullable=nullable)


releases = Table(
    "releases",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("service", String(128), nullable=False, index=True),
    Column("version", String(128), nullable=False),
    Column("ref", String(512), nullable=True),
    Column("schema_revision", String(128), nullable=True),
    Column("flag_snapshot", JSON, nullable=True),
    Column("config_digest", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("baseline", JSON, nullable=True),
    # Security advisories (CVE ids) the release is affected by: never a rollback's target.
    Column("advisories", JSON, nullable=True),
    Column("created_by", String(128), nullable=False),
    _created("created_at"),
    _moment("live_at"),
    _moment("good_at"),
    UniqueConstraint("environment", "service", "version"),
)
deployments = Table(
    "deployments",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("service", String(128), nullable=False, index=True),
    _references("release_id", "releases", nullable=False),
    _references("run_id", "runs"),
    Column("actor", String(128), nullable=False),
    _created("at"),
)
runs = Table(
    "runs",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    # The run's first subject as a person reads it (`backend`, `database:main`): a label to list
    # and filter by; what the run acts on is in `run_subjects`, typed.
    Column("service", String(128), nullable=False, index=True),
    _references("from_release_id", "releases"),
    _references("target_release_id", "releases"),
    Column("target", String(256), nullable=True),  # a version, a revision, a time
    Column("reason", Text, nullable=False),
    Column("trigger", String(128), nullable=True),
    Column("state", String(24), nullable=False, index=True),
    _references("incident_id", "incidents"),
    Column("actor", String(128), nullable=False),
    Column("error", Text, nullable=True),
    Column("owner", String(128), nullable=True),
    _created("created_at"),
    _moment("started_at"),
    _moment("finished_at"),
    Column("rpo_s", Double, nullable=True),  # a restore's data-loss window, as achieved
    Column("restore_s", Double, nullable=True),  # how long the restore itself took
)
steps = Table(
    "steps",
    metadata,
    _id(),
    _references("run_id", "runs", nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", String(256), nullable=False),
    Column("subject_kind", String(16), nullable=True),  # what the step acts on
    Column("subject_name", String(128), nullable=True),
    Column("params", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("output", JSON, nullable=True),
    Column("message", Text, nullable=True),
    _moment("started_at"),
    _moment("finished_at"),
    UniqueConstraint("run_id", "position"),
)
incidents = Table(
    "incidents",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("service", String(128), nullable=False, index=True),
    Column("title", String(256), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("trigger", String(128), nullable=True),
    _references("release_id", "releases"),
    Column("rto_s", Double, nullable=False),
    _moment("impact_started_at"),
    Column("detected_at", UTCDateTime, nullable=False),
    _moment("recovered_at"),
    _moment("resolved_at"),
    Column("rpo_s", Double, nullable=True),  # the data-loss window a restore achieved
    Column("rpo_objective_s", Double, nullable=True),
    Column("restore_s", Double, nullable=True),
    Column("category", String(16), nullable=False, server_default=IncidentCategory.ERRORS.value),
    # One open incident per subject: see with_partial_indexes().
)
timeline_events = Table(
    "timeline_events",
    metadata,
    _id(),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False, index=True),
    _references("run_id", "runs"),
    _created("at"),
    Column("actor", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    # The measurements behind a decision (values, window, query, samples, threshold).
    Column("evidence", JSON, nullable=True),
)
# One row per locked (environment, subject): inserting it is taking the lock. A lock belongs to
# its run, not to a process: it is freed when the run ends.
subject_locks = Table(
    "subject_locks",
    metadata,
    Column("environment", String(64), primary_key=True),
    Column("subject_kind", String(16), primary_key=True),
    Column("subject_name", String(128), primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    _created("acquired_at"),
)
# A subject a run acts on, in the run's order; with the versions a release plan moves that
# service between (a several-service rollback has one pair per service).
run_subjects = Table(
    "run_subjects",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("subject_kind", String(16), nullable=False),
    Column("subject_name", String(128), nullable=False),
    Column("from_version", String(128), nullable=True),
    Column("target_version", String(256), nullable=True),
)
# Who may act on a named thing ("run:12", "watch:production") until when (store/leases.py).
# `expires_at` is in seconds since the epoch by the *database's* clock, never a client's;
# `fencing` grows by one each time the lease changes hands, and never goes back.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=True),
    Column("fencing", BigInteger, nullable=False),
    Column("expires_at", Double, nullable=False),
)
api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    _created("created_at"),
    _moment("revoked_at"),
)
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    _created("at"),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False),
    Column("detail", JSON, nullable=True),
)
# A backup backout took, with the row counts it saw: what integrity checks compare with.
db_backups = Table(
    "db_backups",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("database", String(128), nullable=False, index=True),
    Column("engine", String(32), nullable=False),
    Column("backup_id", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("size_bytes", BigInteger, nullable=True),
    Column("row_counts", JSON, nullable=True),
    Column("reason", Text, nullable=True),
    _references("run_id", "runs"),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("environment", "database", "backup_id"),
)
# A feature flag of the builtin provider, per environment, as the Unleash API serves it.
flags = Table(
    "flags",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("key", String(256), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("enabled", Boolean, nullable=False),
    Column("strategies", JSON, nullable=False),
    Column("variants", JSON, nullable=False),
    Column("to_remove", Boolean, nullable=False, default=False),
    _created("updated_at"),
    UniqueConstraint("environment", "key"),
)
# Who changed a flag, when, why, from what to what (whichever provider holds the flag).
flag_changes = Table(
    "flag_changes",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("key", String(256), nullable=False, index=True),
    _created("at"),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=False),
    _references("incident_id", "incidents"),
    _references("run_id", "runs"),
)
# Signed webhook deliveries already accepted (operations/webhook_signatures.py): a signature is
# accepted once. Kept until its timestamp is too old to be accepted anyway (`expires_at`, in
# seconds since the epoch), so every `serve` process sharing the store refuses a replay.
seen_signatures = Table(
    "seen_signatures",
    metadata,
    Column("signature", String(128), primary_key=True),
    Column("expires_at", Double, nullable=False, index=True),
)
# The written part of an incident's post-incident report (incidents/report_sections.py): root
# cause, lessons learned and action items, filled in by people; one row per incident, made at
# the first edit or when the 24 h reminder goes out. `reminded_at` is set once: one reminder.
incident_reports = Table(
    "incident_reports",
    metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id"), primary_key=True),
    Column("root_cause", Text, nullable=True),
    Column("lessons", Text, nullable=True),
    Column("action_items", JSON, nullable=True),
    Column("edited_by", String(128), nullable=True),
    _moment("edited_at"),
    _moment("reminded_at"),
)


# The notifications outbox (notify/outbox.py): one row per (event, audience, target), written in
# the transaction of the timeline event that causes it, sent after that commit by a deliverer
# that claims it (state `sending` with a lease) so two processes never send one twice.
# `target` names where it goes (a channel or a contact), never its URL: the URL, and its
# secrets, stay in the config. Times to compare (`next_attempt_at`, `lease_until`) are seconds
# since the epoch. `dedupe_key` makes "once per incident and rule" a unique index.
notifications = Table(
    "notifications",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    _references("incident_id", "incidents"),
    _references("event_id", "timeline_events"),
    _references("run_id", "runs"),
    Column("audience", String(64), nullable=False),
    Column("moment", String(64), nullable=False),  # the rule's when, or outage_longer_than
    Column("target", String(200), nullable=False, index=True),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Double, nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("lease_until", Double, nullable=True),
    Column("last_error", Text, nullable=True),
    _created("created_at"),
    _moment("sent_at"),
)


_OPEN_INCIDENT_PER_SUBJECT = "uq_incidents_open_per_subject"


def with_partial_indexes() -> MetaData:
    """`metadata` with its partial unique index declared (once): one open incident per
    subject, so that a second detector joins it instead (incidents/).

    What creates or compares the schema calls this (the ORM's `Base`, and through it Alembic);
    a query never reads an index. It is not declared with its table because its `where` is
    given per dialect, and SQLAlchemy imports every dialect so named to check the argument:
    PostgreSQL's took 40 ms of every command's start, on SQLite too.
    """
    if not any(index.name == _OPEN_INCIDENT_PER_SUBJECT for index in incidents.indexes):
        open_only = text("status != 'resolved'")
        Index(
            _OPEN_INCIDENT_PER_SUBJECT,
            incidents.c.environment,
            incidents.c.service,
            unique=True,
            sqlite_where=open_only,
            postgresql_where=open_only,
        )
    return metadata


# What the triggers judged, one point per service and second at most (metric_history.py): the
# values of one snapshot (metric → value), for the charts around an incident. `at` is seconds
# since the epoch. Bounded: points older than the history's retention are deleted as it writes.
metric_points = Table(
    "metric_points",
    metadata,
    _id(),
    Column("environment", String(64), nullable=False),
    Column("service", String(64), nullable=False),
    Column("at", Double, nullable=False),
    Column("metric_values", JSON, nullable=False),
    Index("ix_metric_points_service_at", "environment", "service", "at"),
)
