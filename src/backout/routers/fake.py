"""The `fake` router: remembers the shares it was given, in a JSON file, and moves nothing.

For dry runs of a plan and for tests of the traffic steps; the HAProxy router's tests run
against a real HAProxy.
"""

from __future__ import annotations

import json
from pathlib import Path

from backout.atomic import write_text_atomic
from backout.registry import PluginContext, PluginSettings


class FakeRouterSettings(PluginSettings):
    pass


class FakeRouter:
    routes_traffic = True
    why_not = ""

    def __init__(self, settings: FakeRouterSettings, context: PluginContext) -> None:
        self._path: Path = context.state_dir / f"fake-router-{context.service}.json"

    def _shares(self) -> dict[str, float]:
        try:
            data: dict[str, float] = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def _save(self, shares: dict[str, float]) -> None:
        write_text_atomic(self._path, json.dumps(shares, sort_keys=True))

    def drain(self, version: str) -> None:
        self.set_share(version, 0)

    def set_share(self, version: str, percent: float) -> None:
        shares = self._shares()
        shares[version] = float(percent)
        self._save(shares)

    def share(self, version: str) -> float:
        return self._shares().get(version, 0.0)
