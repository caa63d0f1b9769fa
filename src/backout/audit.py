"""The audit log: who did what to which target, for every action that changes something."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backout.store import AuditEntry


def audit(session: Session, actor: str, action: str, target: str, **detail: Any) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, detail=detail or None)
    session.add(entry)
    return entry
