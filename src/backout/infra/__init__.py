"""Infrastructure stacks a rollback applies again with their previous variables. Tools are
picked by `infrastructure[].tool.type` in config: terraform, fake."""

from __future__ import annotations

from backout.config import Config
from backout.infra.base import InfraError, StackPlan, StackTool, Variables
from backout.infra.context import StackContext, stack_plugin_context
from backout.registry import Registry

STACK_TOOLS: Registry[StackTool] = Registry("infrastructure tool")
STACK_TOOLS.register_lazy("terraform", "backout.infra.terraform", "TerraformSettings", "Terraform")
STACK_TOOLS.register_lazy("fake", "backout.infra.fake", "FakeStackSettings", "FakeStack")


def stack_tool_for(config: Config, name: str) -> StackTool:
    """The tool of the stack `name` of `infrastructure:` (NotFoundError for an unknown one)."""
    stack = config.stack(name)
    index = config.infrastructure.index(stack)
    context = stack_plugin_context(config, index)
    return STACK_TOOLS.build(stack.tool, ("infrastructure", index, "tool"), context)


__all__ = [
    "STACK_TOOLS",
    "InfraError",
    "StackContext",
    "StackPlan",
    "StackTool",
    "Variables",
    "stack_plugin_context",
    "stack_tool_for",
]
