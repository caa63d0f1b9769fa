"""A registry that picks a plug-in by its config `type:`.

Built-ins register exactly as an outside plug-in would. A duplicate name is refused. A plug-in
whose optional dependency is missing registers as *unavailable* with the reason, so choosing it
gives a clear error instead of an ImportError at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from backout.config import PluginSpec, key_path, validation_problems
from backout.errors import BackoutError, ConfigError

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)


class PluginSettings(BaseModel):
    """Base of every plug-in's settings model: unknown keys are an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class PluginContext:
    """What a plug-in may know of where it runs, besides its own settings."""

    service: str
    config_file: Path
    base_dir: Path
    state_dir: Path

    def resolve(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path


@dataclass(frozen=True)
class _Entry(Generic[T]):
    settings_model: type[BaseModel]
    factory: Callable[[BaseModel, PluginContext], T] | None
    unavailable_reason: str | None = None


class Registry(Generic[T]):
    """Name → plug-in factory, for one plug-in kind (drivers, routers, checks ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, _Entry[T]] = {}

    def register(
        self, name: str, settings_model: type[S], factory: Callable[[S, PluginContext], T]
    ) -> None:
        self._refuse_duplicate(name)
        self._entries[name] = _Entry(settings_model, factory)  # type: ignore[arg-type]

    def register_unavailable(self, name: str, reason: str) -> None:
        """Record a plug-in that cannot load here (e.g. its optional dependency is missing)."""
        self._refuse_duplicate(name)
        self._entries[name] = _Entry(PluginSettings, None, reason)

    def names(self) -> list[str]:
        return sorted(n for n, e in self._entries.items() if e.factory is not None)

    def build(self, spec: PluginSpec, where: tuple[str | int, ...], context: PluginContext) -> T:
        """Validate `spec` against the plug-in's settings and construct it; no side effects."""
        path = key_path(where)
        entry = self._entries.get(spec.type)
        if entry is None:
            raise ConfigError(
                str(context.config_file),
                [
                    f"{path}.type: unknown {self.kind} {spec.type!r} "
                    f"(available: {', '.join(self.names())})"
                ],
            )
        if entry.factory is None:
            why = entry.unavailable_reason
            raise ConfigError(
                str(context.config_file),
                [f"{path}.type: {self.kind} {spec.type!r} is unavailable here ({why})"],
            )
        try:
            settings = entry.settings_model.model_validate(spec.settings())
        except ValidationError as error:
            problems = validation_problems(error, where)
            raise ConfigError(str(context.config_file), problems) from None
        return entry.factory(settings, context)

    def _refuse_duplicate(self, name: str) -> None:
        if name in self._entries:
            raise BackoutError(f"{self.kind} {name!r} is registered twice")
