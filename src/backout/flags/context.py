"""What every flag provider is built with."""

from __future__ import annotations

from dataclasses import dataclass, field

from backout.config import Config, FlagDefinition
from backout.errors import BackoutError
from backout.registry import PluginContext
from backout.store import Store


@dataclass(frozen=True)
class FlagPluginContext(PluginContext):
    """A provider's context: `service` is the environment whose flags it holds.

    `store` is None only while a config is validated (providers are built, never used, then).
    """

    store: Store | None = None
    definitions: dict[str, FlagDefinition] = field(default_factory=dict)

    @classmethod
    def of(cls, context: PluginContext, plugin: str) -> FlagPluginContext:
        if isinstance(context, FlagPluginContext):
            return context
        raise BackoutError(
            f"{plugin} is a flag provider and was built without its context",
            hint="build it through Runtime.flags()",
        )

    def require_store(self) -> Store:
        if self.store is None:
            raise BackoutError("a flag provider built to validate the config cannot be used")
        return self.store


def flag_plugin_context(config: Config, store: Store | None) -> FlagPluginContext:
    return FlagPluginContext(
        service=config.environment,
        config_file=config.source,
        base_dir=config.base_dir,
        state_dir=config.state_dir,
        environment=config.environment,
        store=store,
        definitions=dict(config.flags.definitions),
    )
