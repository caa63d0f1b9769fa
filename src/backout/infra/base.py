"""The infrastructure stack interface: plan a stack's variables, apply a saved plan, read it.

A stack is one folder of infrastructure code applied as a whole (a Terraform root module) with
its own state. Its releases are the variables applied to it (infra/recording.py), so going back
is applying the previous variables again — behind a plan a person reads and approves.

    plan(variables, save_to)  What applying `variables` would change: a readable text, whether
                              anything changes, and the plan saved in `save_to` for apply().
                              Changes nothing outside `save_to` and the tool's own working files
                              (Terraform: `.terraform/` after `init`); may take minutes (the
                              tool's `timeout`).
    apply(saved)              Apply exactly the saved plan; refused by the tool when the stack
                              changed since it was made (a stale plan is never applied).
                              Not atomic (the tool applies resource by resource); running it
                              again after a crash is refused as stale, and the caller plans anew.
    matches(variables)        Whether the stack's state is what `variables` make it: a fresh
                              plan shows no change. Read-only.
    outputs()                 The stack's outputs now ({name: value}). Read-only, seconds.

All raise `InfraError`, carrying the tail of the tool's error output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backout.errors import StepFailedError

Variables = dict[str, Any]


class InfraError(StepFailedError):
    """An infrastructure tool failed or could not be run; its message ends with the tool's
    own error output (the last lines)."""


@dataclass(frozen=True)
class StackPlan:
    """What applying some variables would do: as a person reads it, and in short."""

    text: str  # the tool's plan as it prints it
    changes: bool  # anything to add, change or destroy
    summary: str  # "2 to add, 0 to change, 2 to destroy" / "no changes"
    saved: Path  # where the plan is kept for apply()


class StackTool(Protocol):
    """How one stack is planned and applied; see the module doc for the contract."""

    def plan(self, variables: Variables, save_to: Path) -> StackPlan: ...

    def apply(self, saved: Path) -> None: ...

    def matches(self, variables: Variables) -> bool: ...

    def outputs(self) -> dict[str, Any]: ...
