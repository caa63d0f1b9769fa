"""Infrastructure stacks: record the variables applied, show them, and apply a stack's previous
variables again.

The previous variables of a stack are what its history (infra/recording.py) says: those applied
before the recorded live ones — unless the stack no longer matches the recorded live variables
(applied by hand, without `backout infra record`), in which case the recorded live variables are
the ones to go back to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backout.errors import BackoutError, ConfigError, NotFoundError, RefusedError
from backout.infra import Variables, stack_tool_for
from backout.infra.recording import (
    label_key,
    live_release,
    previous_release,
    record_applied,
    recorded_variables,
)
from backout.operations.subject_incidents import start_subject_run
from backout.plans import Plan
from backout.plans.several import Part, SubjectParts, collect_parts
from backout.plans.stack import (
    STACK_PLAN,
    stack_rollback_steps,
    stack_rollback_target,
)
from backout.runs.start import RunHandle
from backout.runtime import Runtime
from backout.store import Release


@dataclass(frozen=True)
class RecordedStack:
    name: str
    version: str
    changed: bool  # new variables were recorded live (False: they were the live ones already)


def record_stack(
    runtime: Runtime, name: str, *, actor: str, vars_file: Path | None = None
) -> RecordedStack:
    """Record the variables in `vars_file` (default: the stack's `variables:` file) as the ones
    stack `name` is applied with now."""
    stack = runtime.config.stack(name)
    if vars_file is None:
        if stack.variables is None:
            index = runtime.config.infrastructure.index(stack)
            raise ConfigError(
                str(runtime.config.source),
                [f"infrastructure[{index}].variables: not set, and no --vars given for {name}"],
            )
        vars_file = runtime.config.resolve_path(stack.variables)
    variables = read_variables(vars_file)
    with runtime.store.session() as session:
        release, changed = record_applied(
            session,
            runtime.environment,
            stack.name,
            variables,
            actor=actor,
            label_key=label_key(runtime.config.state_dir),
        )
        version = release.version
    return RecordedStack(stack.name, version, changed)


def read_variables(path: Path) -> Variables:
    """A JSON object of variables; RefusedError says what is wrong with the file."""
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        raise RefusedError(f"no variables file at {path}") from None
    except (OSError, ValueError) as error:
        raise RefusedError(f"cannot read the variables in {path}: {error}") from None
    if not isinstance(found, dict):
        raise RefusedError(f'{path} holds no JSON object of variables ({{"name": value}})')
    return found


@dataclass(frozen=True)
class StackTarget:
    """Where one stack stands and what a rollback applies to it."""

    name: str
    live: Release | None
    back_to: Release

    @property
    def variables(self) -> Variables:
        return recorded_variables(self.back_to)

    def from_version(self) -> str | None:
        return self.live.version if self.live is not None else None


def rollback_target(runtime: Runtime, name: str) -> StackTarget:
    """Which variables `name` would go back to; NotFoundError when nothing recorded says,
    RefusedError when the stack matches the previous ones already (applied by hand). Runs the
    tool's plan (read-only)."""
    stack = runtime.config.stack(name)
    tool = stack_tool_for(runtime.config, stack.name)
    with runtime.store.session() as session:
        live = live_release(session, runtime.environment, stack.name)
        previous = previous_release(session, runtime.environment, stack.name)
        for release in (live, previous):
            if release is not None:
                session.expunge(release)
    if live is None:
        raise NotFoundError(
            f"no variables of stack {stack.name} are recorded",
            hint=f"record them as they are applied: backout infra record {stack.name} --vars FILE",
        )
    changed_unrecorded = not tool.matches(recorded_variables(live))
    if changed_unrecorded and previous is not None and tool.matches(recorded_variables(previous)):
        raise RefusedError(
            f"stack {stack.name} matches its previous variables ({previous.version}) already",
            hint=f"applied without being recorded: backout infra record {stack.name} --vars FILE",
        )
    back_to = live if changed_unrecorded else previous
    if back_to is None:
        raise NotFoundError(
            f"no previous variables of stack {stack.name} are recorded (only the live ones)",
            hint=f"history: backout infra show; record each apply: backout infra record {name}",
        )
    return StackTarget(stack.name, None if changed_unrecorded else live, back_to)


def plan_stack_rollback(runtime: Runtime, name: str, *, reason: str) -> Plan:
    """The plan applying `name`'s previous variables again; read-only."""
    target, steps = stack_rollback_part(runtime, name, reason=reason)
    return Plan(STACK_PLAN, (target,), steps)


def stack_rollback_part(runtime: Runtime, name: str, *, reason: str) -> Part:
    """`name`'s target and its steps (plan, approval, apply, verify); NotFoundError or
    RefusedError when it has nothing to go back to. Read-only."""
    target = rollback_target(runtime, name)
    steps = stack_rollback_steps(
        target.name,
        target.variables,
        from_version=target.from_version(),
        to_version=target.back_to.version,
        reason=reason,
    )
    goal = stack_rollback_target(target.name, target.from_version(), target.back_to.version)
    return goal, steps


def stack_rollback_parts(
    runtime: Runtime, *, reason: str, names: list[str] | None = None
) -> SubjectParts:
    """Every stack of `infrastructure:` (or `names`) with previous variables recorded, to add
    to a multi-subject plan. Read-only. A stack with nothing recorded to go back to is left
    out with the reason; one whose tool fails (InfraError) stops the preview: a full rollback
    does not go on without it."""
    chosen = names or [stack.name for stack in runtime.config.infrastructure]
    return collect_parts(chosen, lambda name: stack_rollback_part(runtime, name, reason=reason))


def start_stack_rollback(runtime: Runtime, plan: Plan, *, actor: str, reason: str) -> RunHandle:
    """Store the previewed plan as a run holding `stack:NAME`, inside an incident."""
    rto = runtime.config.objectives.rto.full_system
    return start_subject_run(runtime, plan, actor=actor, reason=reason, rto=rto)


def stacks_overview(runtime: Runtime) -> list[dict[str, Any]]:
    """Each stack of `infrastructure:`: its tool, the variables recorded live, the previous
    ones, and whether the stack matches the live ones (a plan; None when it cannot be run)."""
    rows = []
    for stack in runtime.config.infrastructure:
        with runtime.store.session() as session:
            live = live_release(session, runtime.environment, stack.name)
            previous = previous_release(session, runtime.environment, stack.name)
            live_vars = recorded_variables(live) if live is not None else None
            row: dict[str, Any] = {
                "stack": stack.name,
                "tool": stack.tool.type,
                "recorded_live": live.version if live else None,
                "previous": previous.version if previous else None,
            }
        try:
            tool = stack_tool_for(runtime.config, stack.name)
            matches = tool.matches(live_vars) if live_vars is not None else None
        except BackoutError as error:
            matches, row["problem"] = None, error.message
        rows.append({**row, "matches_live": matches})
    return rows
