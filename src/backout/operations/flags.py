"""Feature flags as the on-call engineer reads them: each flag, what it guards, its changes.

The changes themselves are recorded domain actions: `backout.actions.flag_changes`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from backout.flags import Flag
from backout.runtime import Runtime
from backout.store.tables import flag_changes

# Rows, not ORM objects: `flags_cmd` imports this module for the kill switch too, which must not
# pay for importing the ORM (actions/flag_changes.py).
_CHANGE_COLUMNS = (
    flag_changes.c.at,
    flag_changes.c.actor,
    flag_changes.c.reason,
    flag_changes.c.before,
    flag_changes.c.after,
    flag_changes.c.incident_id,
    flag_changes.c.run_id,
)


def list_flags(runtime: Runtime) -> list[Flag]:
    return runtime.flags().flags()


def flag_detail(runtime: Runtime, key: str) -> dict[str, Any]:
    """The flag, the services it guards, and its recorded changes, newest first."""
    flag = runtime.flags().flag(key)
    with runtime.store.connection() as connection:
        changes = connection.execute(
            select(*_CHANGE_COLUMNS)
            .where(flag_changes.c.environment == runtime.environment, flag_changes.c.key == key)
            .order_by(flag_changes.c.id.desc())
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


def _change_view(change: Row[*tuple[Any, ...]]) -> dict[str, Any]:
    return {
        "at": change.at.isoformat(),
        "actor": change.actor,
        "reason": change.reason,
        "before": change.before,
        "after": change.after,
        "incident_id": change.incident_id,
        "run_id": change.run_id,
    }
