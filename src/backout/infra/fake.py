"""The `fake` infrastructure tool: a stack whose state is a JSON file of the variables last
applied, and whose outputs are those variables. For dry runs and tests of plans; the terraform
tool's tests run the real terraform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from backout.atomic import write_text_atomic
from backout.infra.base import InfraError, StackPlan, Variables
from backout.infra.context import StackContext
from backout.registry import PluginSettings


class FakeStackSettings(PluginSettings):
    path: str = Field(
        "fake-stack.json",
        description="The JSON file of the applied variables (relative to the state folder).",
    )


class FakeStack:
    """The stack's state in `path`: {"variables": {...}}."""

    def __init__(self, settings: FakeStackSettings, context: StackContext) -> None:
        path = Path(settings.path).expanduser()
        self._path = path if path.is_absolute() else context.state_dir / path

    def plan(self, variables: Variables, save_to: Path) -> StackPlan:
        now = self._applied()
        save_to.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(save_to, json.dumps({"from": now, "to": variables}, sort_keys=True))
        changed = sorted(k for k in {*now, *variables} if now.get(k) != variables.get(k))
        lines = [f"  ~ {k}: {now.get(k)!r} -> {variables.get(k)!r}" for k in changed]
        summary = f"{len(changed)} to change" if changed else "no changes"
        return StackPlan("\n".join(lines) or "No changes.", bool(changed), summary, save_to)

    def apply(self, saved: Path) -> None:
        planned = json.loads(saved.read_text())
        if planned["from"] != self._applied():
            raise InfraError(f"the saved plan {saved} is stale: the stack changed since")
        self._write(planned["to"])

    def matches(self, variables: Variables) -> bool:
        return self._applied() == variables

    def outputs(self) -> dict[str, Any]:
        return dict(self._applied())

    def _applied(self) -> Variables:
        try:
            data: Variables = json.loads(self._path.read_text())["variables"]
        except FileNotFoundError:
            return {}
        return data

    def _write(self, variables: Variables) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._path, json.dumps({"variables": variables}, sort_keys=True))
