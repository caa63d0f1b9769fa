"""A registry that picks a plug-in by its config `type:`.

Built-ins register exactly as an outside plug-in would. A duplicate name is refused. A plug-in
whose optional dependency is missing registers as *unavailable* with the reason, so choosing it
gives a clear error instead of an ImportError at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from backout.config import PluginSpec, key_path, validation_problems
from backout.errors import BackoutError, ConfigError

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)


class PluginSettings(BaseModel):
    """Base of every plug-in's settings model: unknown keys are an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class PluginContext:
    """What a plug-in may know of where it runs, besides its own settings."""

    service: str
    config_file: Path
    base_dir: Path
    state_dir: Path
    # Keyword-only so that the contexts that extend this one keep their own fields positional.
    environment: str = field(default="production", kw_only=True)

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
        self._lazy: dict[str, tuple[str, str, str]] = {}

    def register(
        self, name: str, settings_model: type[S], factory: Callable[[S, PluginContext], T]
    ) -> None:
        self._refuse_duplicate(name)
        self._entries[name] = _Entry(settings_model, factory)  # type: ignore[arg-type]

    def register_lazy(self, name: str, module: str, settings_model: str, factory: str) -> None:
        """Register a plug-in whose module is imported only when a config chooses it.

        What a built-in plug-in does, so that a command pays for importing only the plug-ins
        its config uses (an HTTP check's client, a backup engine's PostgreSQL driver). A module
        that cannot be imported makes the plug-in unavailable, as `register_unavailable` says.
        """
        self._refuse_duplicate(name)
        self._lazy[name] = (module, settings_model, factory)

    def register_unavailable(self, name: str, reason: str) -> None:
        """Record a plug-in that cannot load here (e.g. its optional dependency is missing)."""
        self._refuse_duplicate(name)
        self._entries[name] = _Entry(PluginSettings, None, reason)

    def names(self) -> list[str]:
        available = {n for n, e in self._entries.items() if e.factory is not None}
        return sorted(available | (self._lazy.keys() - self._entries.keys()))

    def build(self, spec: PluginSpec, where: tuple[str | int, ...], context: PluginContext) -> T:
        """Validate `spec` against the plug-in's settings and construct it; no side effects."""
        path = key_path(where)
        entry = self._entry(spec.type)
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

    def _entry(self, name: str) -> _Entry[T] | None:
        """The plug-in registered as `name`, importing its module first if it was lazy."""
        lazy = self._lazy.get(name)
        if lazy is not None and name not in self._entries:
            # Two threads may both import it: the import is idempotent, the second entry equal.
            module_name, settings_name, factory_name = lazy
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                self._entries[name] = _Entry(PluginSettings, None, f"cannot import it: {error}")
            else:
                settings = getattr(module, settings_name)
                factory = getattr(module, factory_name)
                self._entries[name] = _Entry(settings, factory)
        return self._entries.get(name)

    def _refuse_duplicate(self, name: str) -> None:
        if name in self._entries or name in self._lazy:
            raise BackoutError(f"{self.kind} {name!r} is registered twice")
