"""backout's own state: SQLAlchemy models, the engine, and Alembic migrations."""

from backout.store.engine import Store
from backout.store.models import (
    ApiToken,
    AuditEntry,
    BackupRecord,
    Base,
    Deployment,
    FlagChange,
    FlagRecord,
    Incident,
    Release,
    Run,
    RunSubject,
    Step,
    SubjectLock,
    TimelineEvent,
    utcnow,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "BackupRecord",
    "Base",
    "Deployment",
    "FlagChange",
    "FlagRecord",
    "Incident",
    "Release",
    "Run",
    "RunSubject",
    "Step",
    "Store",
    "SubjectLock",
    "TimelineEvent",
    "utcnow",
]
