"""The `builtin` flag provider: flags in backout's own store, served to the Unleash SDKs.

The config's `flags.definitions` create each flag the first time backout sees it; from then on
its state lives in the store, where the kill switch and rollouts change it (a later edit of the
definition does not undo a kill switch pressed during an incident).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from backout.config import FlagDefinition
from backout.errors import NotFoundError
from backout.flags.base import Flag, with_rollout
from backout.flags.context import FlagPluginContext
from backout.registry import PluginContext, PluginSettings
from backout.store import utcnow
from backout.store.tables import flags as flags_table

# Rows, not ORM objects: every command builds the flag provider to validate the config (`backout
# status` too), and this module must not bring the ORM with it.
_FLAG_COLUMNS = (
    flags_table.c.key,
    flags_table.c.enabled,
    flags_table.c.strategies,
    flags_table.c.variants,
    flags_table.c.description,
    flags_table.c.to_remove,
)


class BuiltinFlagSettings(PluginSettings):
    pass


class BuiltinFlags:
    def __init__(self, settings: BuiltinFlagSettings, context: PluginContext) -> None:
        self._context = FlagPluginContext.of(context, "the builtin flag provider")
        self._environment = context.service
        self._created = False

    def flags(self) -> list[Flag]:
        with self._connection() as connection:
            rows = connection.execute(
                select(*_FLAG_COLUMNS)
                .where(flags_table.c.environment == self._environment)
                .order_by(flags_table.c.key)
            )
            return [_flag(row) for row in rows]

    def flag(self, key: str) -> Flag:
        with self._connection() as connection:
            return self._read(connection, key)[1]

    def set_enabled(self, key: str, enabled: bool) -> Flag:
        return self._change(key, lambda flag: replace(flag, enabled=enabled))

    def set_rollout(self, key: str, percent: int) -> Flag:
        return self._change(
            key, lambda flag: replace(flag, strategies=with_rollout(key, flag.strategies, percent))
        )

    def mark_to_remove(self, key: str) -> Flag:
        return self._change(key, lambda flag: replace(flag, to_remove=True))

    def client_features(self) -> dict[str, Any]:
        return {"version": 2, "features": [flag.client_feature() for flag in self.flags()]}

    def _change(self, key: str, change: Callable[[Flag], Flag]) -> Flag:
        with self._connection() as connection:
            row_id, before = self._read(connection, key)
            after = change(before)
            if after != before:
                connection.execute(
                    update(flags_table)
                    .where(flags_table.c.id == row_id)
                    .values(
                        enabled=after.enabled,
                        strategies=after.strategies,
                        to_remove=after.to_remove,
                        updated_at=utcnow(),
                    )
                )
            return after

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        self._create_defined_flags_once()
        with self._context.require_store().connection() as connection:
            yield connection

    def _create_defined_flags_once(self) -> None:
        if self._created:
            return
        try:
            with self._context.require_store().connection() as connection:
                known = set(
                    connection.scalars(
                        select(flags_table.c.key).where(
                            flags_table.c.environment == self._environment
                        )
                    )
                )
                for key, definition in self._context.definitions.items():
                    if key not in known:
                        connection.execute(
                            insert(flags_table).values(
                                _row_from(self._environment, key, definition)
                            )
                        )
        except IntegrityError:
            pass  # another backout process created them a moment before: same rows
        self._created = True

    def _read(self, connection: Connection, key: str) -> tuple[int, Flag]:
        """The flag `key` and the id of its row; NotFoundError names the known flags."""
        row = connection.execute(
            select(flags_table.c.id, *_FLAG_COLUMNS).where(
                flags_table.c.environment == self._environment, flags_table.c.key == key
            )
        ).first()
        if row is None:
            known = connection.scalars(
                select(flags_table.c.key).where(flags_table.c.environment == self._environment)
            )
            raise NotFoundError(
                f"unknown flag {key!r} in environment {self._environment!r}",
                hint=f"flags: {', '.join(sorted(known)) or '(none yet: see flags.definitions)'}",
            )
        return row.id, _flag(row)


def _row_from(environment: str, key: str, definition: FlagDefinition) -> dict[str, Any]:
    strategies = list(definition.strategies)
    if definition.rollout is not None:
        strategies = with_rollout(key, strategies, definition.rollout)
    return {
        "environment": environment,
        "key": key,
        "description": definition.description,
        "enabled": definition.enabled,
        "strategies": strategies,
        "variants": list(definition.variants),
        "to_remove": False,
    }


def _flag(row: Row[*tuple[Any, ...]]) -> Flag:
    return Flag(
        key=row.key,
        enabled=row.enabled,
        strategies=list(row.strategies),
        variants=list(row.variants),
        description=row.description,
        to_remove=row.to_remove,
    )
