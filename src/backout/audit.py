"""The audit log: who did what to which target, for every action that changes something."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert

from backout.store.tables import audit_log

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def audit(rows: Session | Connection, actor: str, action: str, target: str, **detail: Any) -> None:
    """One entry, written in the transaction of `rows`: an ORM session, or a connection of a
    unit of work on rows (`Store.connection`) that must not pay for importing the ORM."""
    rows.execute(
        insert(audit_log).values(actor=actor, action=action, target=target, detail=detail or None)
    )
