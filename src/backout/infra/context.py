"""What a stack's tool knows of where it runs: the plug-in context, and the stack's place in
backout.yaml (for error messages that name the key)."""

from __future__ import annotations

from dataclasses import dataclass, field

from backout.config import Config
from backout.registry import PluginContext


@dataclass(frozen=True)
class StackContext(PluginContext):
    where: str = field(default="infrastructure", kw_only=True)  # e.g. infrastructure[0]


def stack_plugin_context(config: Config, index: int) -> StackContext:
    """The context of the tool of `config.infrastructure[index]`."""
    stack = config.infrastructure[index]
    return StackContext(
        service=stack.name,
        config_file=config.source,
        base_dir=config.base_dir,
        state_dir=config.state_dir,
        environment=config.environment,
        where=f"infrastructure[{index}]",
    )
