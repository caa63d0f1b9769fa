"""Feature flags as the on-call engineer reads them: each flag, what it guards, its changes.

The changes themselves are recorded domain actions: `backout.actions.flag_changes`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backout.flags import Flag
from backout.runtime import Runtime
from backout.store import FlagChange


def list_flags(runtime: Runtime) -> list[Flag]:
    return runtime.flags().flags()


def flag_detail(runtime: Runtime, key: str) -> dict[str, Any]:
    """The flag, the services it guards, and its recorded changes, newest first."""
    flag = runtime.flags().flag(key)
    with runtime.store.session() as session:
        changes = session.scalars(
            select(FlagChange)
            .where(FlagChange.environment == runtime.environment, FlagChange.key == key)
            .order_by(FlagChange.id.desc())
        )
        history = [_change_view(change) for change in changes]
    return {
        **flag_view(flag),
        "guards": runtime.config.services_guarded_by(key),
        "changes": history,
    }


def flag_view(flag: Flag) -> dict[str, Any]:
    return {
        "key": flag.key,
        "enabled": flag.enabled,
        "rollout": flag.rollout,
        "exposure": flag.exposure(),
        "to_remove": flag.to_remove,
        "description": flag.description,
        "strategies": flag.strategies,
        "variants": flag.variants,
    }


def _change_view(change: FlagChange) -> dict[str, Any]:
    return {
        "at": change.at.isoformat(),
        "actor": change.actor,
        "reason": change.reason,
        "before": change.before,
        "after": change.after,
        "incident_id": change.incident_id,
        "run_id": change.run_id,
    }
