"""`backout flags list|show|disable|enable|rollout|ramp-down`: the kill switch, gradual
exposure, and the gradual rollback of a flag as a run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from backout.actions import flag_changes
from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    bounded_reason,
    print_json,
    print_table,
    runtime,
    say,
    show_step,
)
from backout.errors import RefusedError
from backout.operations import flags as flag_ops
from backout.plans.feature_flag import OnTrigger, parse_hold, parse_stages

if TYPE_CHECKING:
    from backout.actions.flag_changes import FlagChanged
    from backout.operations.flag_runs import RampDown
    from backout.plans import Plan

flags_app = typer.Typer(help="Feature flags: the kill switch and gradual exposure.")

KeyArg = Annotated[str, typer.Argument(help="The flag's key.")]
ReasonOption = Annotated[
    str,
    typer.Option(help="Why; recorded, and on the incident's timeline.", callback=bounded_reason),
]


@flags_app.command("list")
def list_flags(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every flag of the environment and its exposure."""
    with runtime(config) as rt:
        views = [flag_ops.flag_view(flag) for flag in flag_ops.list_flags(rt)]
    if as_json:
        print_json(views)
        return
    print_table(
        "flags",
        ["key", "exposure", "to remove", "description"],
        [
            [v["key"], v["exposure"], "yes" if v["to_remove"] else "", v["description"]]
            for v in views
        ],
    )


@flags_app.command()
def show(key: KeyArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One flag: its strategies, the services it guards, and who changed it, when and why."""
    with runtime(config) as rt:
        detail = flag_ops.flag_detail(rt, key)
    if as_json:
        print_json(detail)
        return
    say(f"{detail['key']}: {detail['exposure']}" + (" — to remove" if detail["to_remove"] else ""))
    if detail["guards"]:
        say(f"guards: {', '.join(detail['guards'])}")
    print_table(
        "changes",
        ["at", "by", "from", "to", "why"],
        [
            [c["at"], c["actor"], _state(c["before"]), _state(c["after"]), c["reason"] or ""]
            for c in detail["changes"]
        ],
    )


@flags_app.command()
def disable(
    key: KeyArg, reason: ReasonOption, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The kill switch: the flag off for everyone, now."""
    with runtime(config) as rt:
        _report(flag_changes.disable(rt, key, actor=actor(), reason=reason), as_json)


@flags_app.command()
def enable(
    key: KeyArg,
    reason: ReasonOption = "enabled again",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The flag on again (with its rollout as it was)."""
    with runtime(config) as rt:
        _report(flag_changes.enable(rt, key, actor=actor(), reason=reason), as_json)


@flags_app.command()
def rollout(
    key: KeyArg,
    percent: Annotated[int, typer.Argument(min=0, max=100, help="Percent of users, 0-100.")],
    reason: ReasonOption = "rollout changed",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Expose the flag to PERCENT of users (sticky on the user id)."""
    with runtime(config) as rt:
        _report(flag_changes.rollout(rt, key, percent, actor=actor(), reason=reason), as_json)


def _report(change: FlagChanged, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                **flag_ops.flag_view(change.flag),
                "changed": change.changed,
                "before": flag_ops.flag_view(change.before),
                "incident_ids": change.incident_ids,
            }
        )
        return
    say(change.sentence())
    for incident_id in change.incident_ids:
        say(f"on the timeline of incident {incident_id}")


def _state(state: dict[str, object] | None) -> str:
    if not state:
        return "-"
    if not state.get("enabled"):
        return "off"
    rollout_percent = state.get("rollout")
    return "on" if rollout_percent is None else f"on ({rollout_percent} %)"


def register(app: typer.Typer) -> None:
    app.add_typer(flags_app, name="flags")


@flags_app.command("ramp-down")
def ramp_down(
    key: KeyArg,
    stages: Annotated[
        str, typer.Option("--stages", help="Falling percents ending at 0: 50,0 or 50,10,0.")
    ],
    hold: Annotated[
        str, typer.Option("--hold", help="How long each stage is held, triggers armed: 5m.")
    ],
    on_trigger: Annotated[
        OnTrigger,
        typer.Option(
            "--on-trigger",
            help="A trigger firing in a hold: zero turns the flag off and ends the ramp; stop "
            "leaves the flag where it is and fails the run.",
        ),
    ] = OnTrigger.ZERO,
    approval: Annotated[
        bool, typer.Option("--approval", help="Wait for an approver before the first change.")
    ] = False,
    reason: ReasonOption = "gradual flag rollback",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lower KEY stage by stage to off, each stage held with the triggers of the services it
    guards armed, then mark it for removal. Exit 0 once the flag is off (also when a trigger
    cut the ramp short: the output says so), 1 when it is not, 6 at the approval gate."""
    # Here, not at the top: the kill switch (`flags disable`) must not wait for the executor.
    from backout.operations.flag_runs import (
        RampDown,
        plan_ramp_down,
        ramp_down_report,
        start_ramp_down,
    )

    request = RampDown(key, _stages(stages), _hold(hold), on_trigger, approval, reason)
    with runtime(config) as rt:
        plan = plan_ramp_down(rt, request)
        if dry_run:
            _print_plan(plan, request, as_json)
            return
        run = start_ramp_down(rt, request, actor=actor(), plan=plan)
        if not as_json:
            say(f"run {run.run_id}: ramping {request.describe()}, holding {hold} at each stage")
        result = run.execute(None if as_json else show_step)
        report = ramp_down_report(rt, run.run_id, key)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "state": result.state,
                "message": result.message,
                "flag": flag_ops.flag_view(report.flag),
                "incident_id": report.incident_id,
                "cut_short": report.cut_short,
            }
        )
    else:
        say(result.message)
        if report.cut_short is not None:
            say(f"cut short: {report.cut_short}")
        removal = " — marked for removal" if report.flag.to_remove else ""
        say(f"{key} is {report.flag.exposure()}{removal}; incident {report.incident_id}")
    raise typer.Exit(int(result.exit_code))


def _stages(text: str) -> tuple[int, ...]:
    try:
        return parse_stages(text)
    except RefusedError as error:
        raise typer.BadParameter(error.message, param_hint="--stages") from None


def _hold(text: str) -> float:
    try:
        return parse_hold(text)
    except RefusedError as error:
        raise typer.BadParameter(error.message, param_hint="--hold") from None


def _print_plan(plan: Plan, request: RampDown, as_json: bool) -> None:
    if as_json:
        steps = [{"kind": s.kind, "title": s.title, "params": s.params} for s in plan.steps]
        print_json({"flag": request.key, "subject": plan.subject.key, "steps": steps})
        return
    say(f"plan: ramp {request.describe()}")
    for line in plan.describe():
        say(f"  {line}")
    say("dry run: nothing was changed")
