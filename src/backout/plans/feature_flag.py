"""The feature-flag plans: a gradual ramp-down of one flag, and "flag first" for a service.

Ramp-down (the runbook's "50 % → monitor → off → cleanup"):

    [approval] → for each stage: set the exposure (0 % turns the flag off)
                                 → hold, the triggers of every service the flag guards armed
              → mark the flag for removal

Flag first (a trigger fired on a service whose policy is flag_first):

    turn every guarded_by flag off → hold, the service's triggers armed

A hold that sees a trigger fire either cuts the ramp straight to 0 % (`zero`: the flag is
turned off there and the rest of the plan is skipped) or fails the run where it stands
(`stop`). At 0 % there is nothing lower to go to: a trigger firing then always fails the run.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum

from backout.durations import format_duration, parse_duration
from backout.errors import RefusedError
from backout.plans.base import Plan, StepSpec
from backout.subjects import Subject

FLAG_PLAN = "feature_flag"
_MARGIN_S = 30.0


class OnTrigger(StrEnum):
    """What a hold does when a trigger fires at a stage above 0 %."""

    ZERO = "zero"
    STOP = "stop"


def stage_label(percent: int) -> str:
    return "0 % (off)" if percent == 0 else f"{percent} %"


def parse_stages(text: str) -> tuple[int, ...]:
    """'50,10,0' as checked stages; RefusedError saying what is expected."""
    try:
        stages = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise RefusedError(
            f"expected percents separated by commas, e.g. 50,0; got {text!r}"
        ) from None
    check_stages(stages)
    return stages


def parse_hold(text: str) -> float:
    """'5m' as seconds; RefusedError saying what is expected."""
    try:
        duration = parse_duration(text)
    except ValueError as error:
        raise RefusedError(str(error)) from None
    if not isinstance(duration, timedelta):
        raise RefusedError(f"expected a duration such as 30s or 5m, got {text!r}")
    return duration.total_seconds()


def check_stages(stages: Sequence[int]) -> None:
    """Refuse stages that are not percents falling strictly to a last stage of 0."""
    if not stages:
        raise RefusedError("a ramp-down needs at least one stage, the last being 0")
    outside = [p for p in stages if not 0 <= p <= 100]
    if outside:
        raise RefusedError(f"stages are percents from 0 to 100, not {outside[0]}")
    if any(a <= b for a, b in itertools.pairwise(stages)):
        shown = ",".join(map(str, stages))
        raise RefusedError(f"stages must fall at each step, e.g. 50,10,0; got {shown}")
    if stages[-1] != 0:
        raise RefusedError(f"the last stage must be 0 (the flag off), not {stages[-1]}")


def ramp_down_plan(
    key: str,
    stages: Sequence[int],
    *,
    hold_s: float,
    on_trigger: OnTrigger,
    services: list[str],
    approval_gate: bool,
    reason: str,
) -> Plan:
    """The ramp-down of `key` through `stages` (checked here too), watching `services`."""
    check_stages(stages)
    ramp = " → ".join(stage_label(p) for p in stages)
    steps: list[StepSpec] = []
    if approval_gate:
        steps.append(
            StepSpec(
                "approve",
                f"Approval: ramp {key} down ({ramp})",
                {"role": "approver", "question": f"ramp {key} down {ramp}? ({reason})"},
            )
        )
    for number, percent in enumerate(stages, start=1):
        why = f"{reason} (ramp-down stage {number}/{len(stages)}: {stage_label(percent)})"
        steps.append(_set_step(key, percent, why))
        steps.append(
            _hold_step([key], percent, hold_s=hold_s, services=services, on_trigger=on_trigger)
        )
    steps.append(
        StepSpec(
            "flag_mark_remove",
            f"Mark {key} for removal",
            {"flag": key, "reason": f"{reason} (ramped down to 0 %)"},
        )
    )
    return Plan.single(FLAG_PLAN, Subject.flag(key), steps, to_version=f"{key} off")


def flag_first_plan(service: str, flags: list[str], *, hold_s: float, reason: str) -> Plan:
    """Every flag of `flags` off, then a hold with `service`'s triggers armed.

    The run is the service's (listed under it, in its incident) and locks it: while the flags
    are off and the hold judges them, no deploy or rollback of the service may change what is
    being judged. Each flag-off step locks its flag too.
    """
    if not flags:
        raise RefusedError(f"service {service!r} names no flag in guarded_by: no flag first")
    why = f"flag first: {reason}"
    steps = [_set_step(key, 0, why) for key in flags]
    steps.append(_hold_step(flags, 0, hold_s=hold_s, services=[service], on_trigger=OnTrigger.STOP))
    return Plan.single(
        FLAG_PLAN, Subject.service(service), steps, to_version=f"{', '.join(flags)} off"
    )


def _set_step(key: str, percent: int, why: str) -> StepSpec:
    title = f"Turn {key} off" if percent == 0 else f"Lower {key} to {percent} %"
    params = {"flag": key, "percent": percent, "reason": why}
    return StepSpec("flag_set", title, params, subject=Subject.flag(key))


def _hold_step(
    flags: list[str], percent: int, *, hold_s: float, services: list[str], on_trigger: OnTrigger
) -> StepSpec:
    watched = (
        f"the triggers of {', '.join(services)} armed"
        if services
        else "no service names it in guarded_by: nothing to watch"
    )
    where = f"with {', '.join(flags)} off" if percent == 0 else f"at {percent} %"
    return StepSpec(
        "flag_hold",
        f"Hold {format_duration(hold_s)} {where}, {watched}",
        {
            "flags": flags,
            "percent": percent,
            "hold_s": hold_s,
            "services": services,
            "on_trigger": str(on_trigger),
            "timeout_s": hold_s + _MARGIN_S,
        },
    )
