"""The `fake` flag provider: flags in a JSON file under the state folder, for drills and tests."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from backout.atomic import write_text_atomic
from backout.errors import NotFoundError
from backout.flags.base import Flag, with_rollout
from backout.flags.context import FlagPluginContext
from backout.registry import PluginContext, PluginSettings


class FakeFlagSettings(PluginSettings):
    pass


class FakeFlags:
    """Starts from the config's definitions; keeps changes in `<state>/flags-fake-<env>.json`."""

    def __init__(self, settings: FakeFlagSettings, context: PluginContext) -> None:
        flag_context = FlagPluginContext.of(context, "the fake flag provider")
        self._path: Path = context.state_dir / f"flags-fake-{context.service}.json"
        self._defined = {
            key: Flag(
                key=key,
                enabled=d.enabled,
                strategies=with_rollout(key, list(d.strategies), d.rollout)
                if d.rollout is not None
                else list(d.strategies),
                variants=list(d.variants),
                description=d.description,
            )
            for key, d in flag_context.definitions.items()
        }

    def flags(self) -> list[Flag]:
        return sorted(self._all().values(), key=lambda flag: flag.key)

    def flag(self, key: str) -> Flag:
        try:
            return self._all()[key]
        except KeyError:
            raise NotFoundError(
                f"unknown flag {key!r}", hint=f"flags: {', '.join(sorted(self._all()))}"
            ) from None

    def set_enabled(self, key: str, enabled: bool) -> Flag:
        return self._save(replace(self.flag(key), enabled=enabled))

    def set_rollout(self, key: str, percent: int) -> Flag:
        flag = self.flag(key)
        return self._save(replace(flag, strategies=with_rollout(key, flag.strategies, percent)))

    def mark_to_remove(self, key: str) -> Flag:
        return self._save(replace(self.flag(key), to_remove=True))

    def client_features(self) -> dict[str, Any]:
        return {"version": 2, "features": [flag.client_feature() for flag in self.flags()]}

    def _all(self) -> dict[str, Flag]:
        try:
            saved = json.loads(self._path.read_text())
        except FileNotFoundError:
            saved = {}
        return {**self._defined, **{key: Flag(**value) for key, value in saved.items()}}

    def _save(self, flag: Flag) -> Flag:
        saved = {key: asdict(value) for key, value in self._all().items()}
        saved[flag.key] = asdict(flag)
        write_text_atomic(self._path, json.dumps(saved, indent=2, sort_keys=True))
        return flag
