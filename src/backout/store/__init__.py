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
    Lease,
    Release,
    Run,
    ServiceLock,
    Step,
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
    "Lease",
    "Release",
    "Run",
    "ServiceLock",
    "Step",
    "Store",
    "TimelineEvent",
    "utcnow",
]
