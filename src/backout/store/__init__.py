"""backout's own state: its tables, the engine, the ORM classes, and Alembic migrations.

The tables (SQLAlchemy Core) and the engine import without `sqlalchemy.orm`; the ORM classes
are imported on first use of one of their names here, so that a command that only reads rows
(`backout status`) never pays for the ORM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backout.store.engine import Store
from backout.store.tables import utcnow

if TYPE_CHECKING:
    from backout.store.models import (
        ApiToken,
        AuditEntry,
        BackupRecord,
        Base,
        Deployment,
        FlagChange,
        Incident,
        Lease,
        Release,
        Run,
        RunSubject,
        Step,
        SubjectLock,
        TimelineEvent,
    )

_LOADED_AT_ONCE = frozenset({"Store", "utcnow"})


def __getattr__(name: str) -> Any:
    """The ORM classes, imported on first use."""
    if name in __all__ and name not in _LOADED_AT_ONCE:  # the ORM classes
        from backout.store import models  # noqa: PLC0415

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApiToken",
    "AuditEntry",
    "BackupRecord",
    "Base",
    "Deployment",
    "FlagChange",
    "Incident",
    "Lease",
    "Release",
    "Run",
    "RunSubject",
    "Step",
    "Store",
    "SubjectLock",
    "TimelineEvent",
    "utcnow",
]
