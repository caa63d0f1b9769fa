"""The `builtin` flag provider: flags in backout's own store, served to the Unleash SDKs.

The config's `flags.definitions` create each flag the first time backout sees it; from then on
its state lives in the store, where the kill switch and rollouts change it (a later edit of the
definition does not undo a kill switch pressed during an incident).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backout.config import FlagDefinition
from backout.errors import NotFoundError
from backout.flags.base import Flag, with_rollout
from backout.flags.context import FlagPluginContext
from backout.registry import PluginContext, PluginSettings
from backout.store import FlagRecord, utcnow


class BuiltinFlagSettings(PluginSettings):
    pass


class BuiltinFlags:
    def __init__(self, settings: BuiltinFlagSettings, context: PluginContext) -> None:
        self._context = FlagPluginContext.of(context, "the builtin flag provider")
        self._environment = context.service
        self._created = False

    def flags(self) -> list[Flag]:
        with self._session() as session:
            records = session.scalars(
                select(FlagRecord)
                .where(FlagRecord.environment == self._environment)
                .order_by(FlagRecord.key)
            )
            return [_flag(record) for record in records]

    def flag(self, key: str) -> Flag:
        with self._session() as session:
            return _flag(self._record(session, key))

    def set_enabled(self, key: str, enabled: bool) -> Flag:
        return self._change(key, lambda record: setattr(record, "enabled", enabled))

    def set_rollout(self, key: str, percent: int) -> Flag:
        def roll(record: FlagRecord) -> None:
            record.strategies = with_rollout(key, list(record.strategies), percent)

        return self._change(key, roll)

    def mark_to_remove(self, key: str) -> Flag:
        return self._change(key, lambda record: setattr(record, "to_remove", True))

    def client_features(self) -> dict[str, Any]:
        return {"version": 2, "features": [flag.client_feature() for flag in self.flags()]}

    def _change(self, key: str, change: Callable[[FlagRecord], None]) -> Flag:
        with self._session() as session:
            record = self._record(session, key)
            before = _flag(record)
            change(record)
            after = _flag(record)
            if after != before:
                record.updated_at = utcnow()
            return after

    def _session(self) -> AbstractContextManager[Session]:
        self._create_defined_flags_once()
        return self._context.require_store().session()

    def _create_defined_flags_once(self) -> None:
        if self._created:
            return
        try:
            with self._context.require_store().session() as session:
                known = set(
                    session.scalars(
                        select(FlagRecord.key).where(FlagRecord.environment == self._environment)
                    )
                )
                for key, definition in self._context.definitions.items():
                    if key not in known:
                        session.add(_record_from(self._environment, key, definition))
        except IntegrityError:
            pass  # another backout process created them a moment before: same rows
        self._created = True

    def _record(self, session: Session, key: str) -> FlagRecord:
        record = session.scalars(
            select(FlagRecord).where(
                FlagRecord.environment == self._environment, FlagRecord.key == key
            )
        ).first()
        if record is None:
            known = session.scalars(
                select(FlagRecord.key).where(FlagRecord.environment == self._environment)
            )
            raise NotFoundError(
                f"unknown flag {key!r} in environment {self._environment!r}",
                hint=f"flags: {', '.join(sorted(known)) or '(none yet: see flags.definitions)'}",
            )
        return record


def _record_from(environment: str, key: str, definition: FlagDefinition) -> FlagRecord:
    strategies = list(definition.strategies)
    if definition.rollout is not None:
        strategies = with_rollout(key, strategies, definition.rollout)
    return FlagRecord(
        environment=environment,
        key=key,
        description=definition.description,
        enabled=definition.enabled,
        strategies=strategies,
        variants=list(definition.variants),
        to_remove=False,
    )


def _flag(record: FlagRecord) -> Flag:
    return Flag(
        key=record.key,
        enabled=record.enabled,
        strategies=list(record.strategies),
        variants=list(record.variants),
        description=record.description,
        to_remove=record.to_remove,
    )
