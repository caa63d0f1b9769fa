"""A rollback of several services in one run: their application plans, interleaved by phase.

    [approvals: every gate of every plan] → stop traffic to each, dependants first
               → for each, dependencies first: [schema revert] → deploy previous → health checks
               → restore traffic to each, dependencies first → monitor each → mark each rolled back

Dependants lose their traffic before what they depend on, so no request reaches a front end
whose API is being replaced; dependencies are back and healthy before their dependants are
redeployed, so a dependant's health checks run against the versions it will live with.

Each plan's own order is kept, approvals aside: a step never moves ahead of one its plan puts
before it. A two-slot plan drains and retires the bad version only after the traffic is back
on the restored one; its drain and retire stay there, not in the phases of a plain plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from backout.errors import NotFoundError, RefusedError
from backout.plans.base import Plan, StepSpec, Target

_PHASE = {
    "approve": 0,
    "drain": 1,
    "restore_traffic": 3,
    "monitor": 4,
    "retire_previous": 5,
    "mark_release": 5,
    "pin_release": 6,
}
FULL_PLAN = "full"
Part = tuple[Target, list[StepSpec]]  # one subject of a full rollback and its steps
_REDEPLOY = 2  # deploy, health, a schema revert's steps: each service's, together
_DEPENDANTS_FIRST = frozenset({_PHASE["drain"]})


def several_services_plan(plans: list[Plan]) -> Plan:
    """One plan from single-service application plans given dependencies first."""
    if len(plans) == 1:
        return plans[0]
    ordered: list[tuple[tuple[int, int, int], StepSpec]] = []
    for index, plan in enumerate(plans):
        for position, (phase, spec) in enumerate(_phases(plan)):
            turn = len(plans) - index if phase in _DEPENDANTS_FIRST else index
            subject = plan.subject_of(spec)
            named = replace(spec, title=f"{subject.label}: {spec.title}", subject=subject)
            ordered.append(((phase, turn, position), named))
    ordered.sort(key=lambda keyed: keyed[0])
    targets = tuple(target for plan in plans for target in plan.targets)
    return Plan("application", targets, [spec for _, spec in ordered])


def _phases(plan: Plan) -> list[tuple[int, StepSpec]]:
    """Each step of `plan` with its phase: its kind's, or that of a step before it in the plan
    when later; approvals keep theirs (every gate comes first)."""
    reached = 0
    phased = []
    for spec in plan.steps:
        phase = _PHASE.get(spec.kind, _REDEPLOY)
        if spec.kind != "approve":
            phase = reached = max(reached, phase)
        phased.append((phase, spec))
    return phased


def full_environment_plan(
    infrastructure: list[Part], services: Plan | None, records: list[Part]
) -> Plan:
    """The runbook's Full System Rollback as one plan: infrastructure stacks first (the services
    come back on the infrastructure they were built for), then the services in the order above,
    then DNS records (a name points back only at services that answer again)."""
    targets: list[Target] = []
    steps: list[StepSpec] = []
    for target, part in infrastructure:
        targets.append(target)
        steps += part
    if services is not None:
        targets += services.targets
        steps += [_named(services, spec) for spec in services.steps]
    for target, part in records:
        targets.append(target)
        steps += part
    return Plan(FULL_PLAN, tuple(targets), steps)


def _named(plan: Plan, spec: StepSpec) -> StepSpec:
    """`spec` with its subject set, and titled with it when the plan did not say whose it is."""
    subject = plan.subject_of(spec)
    title = spec.title if len(plan.targets) > 1 else f"{subject.label}: {spec.title}"
    return replace(spec, title=title, subject=subject)


@dataclass
class SubjectParts:
    """Subjects of one kind for a run over several (`rollback --full`): each one's target and
    steps, and those left alone with why, by name."""

    parts: list[Part] = field(default_factory=list)
    untouched: dict[str, str] = field(default_factory=dict)


def collect_parts(names: Iterable[str], part_of: Callable[[str], Part]) -> SubjectParts:
    """`part_of(name)` of each name; one that has nothing to roll back (NotFoundError) or is
    there already (RefusedError) is left out, with its message."""
    found = SubjectParts()
    for name in names:
        try:
            found.parts.append(part_of(name))
        except (NotFoundError, RefusedError) as why:
            found.untouched[name] = why.message
    return found
