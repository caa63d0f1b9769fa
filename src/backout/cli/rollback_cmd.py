"""`backout rollback SERVICE`: what a person on call, or a pipeline, runs when a release is bad."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    bounded_reason,
    bounded_version,
    confirm,
    print_json,
    runtime,
    say,
    show_step,
)
from backout.operations.rollback import RollbackRequest, plan_rollback, start_rollback
from backout.subjects import SubjectKind

DNS_PREFIX = f"{SubjectKind.DNS_RECORD}:"
STACK_PREFIX = f"{SubjectKind.STACK}:"

if TYPE_CHECKING:
    from backout.operations.several_rollback import SeveralRollback
    from backout.plans import Plan
    from backout.runs.start import RunHandle


def rollback(
    services: Annotated[
        list[str] | None,
        typer.Argument(
            help="The service(s) to roll back; several go in one run.", show_default=False
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every service with something to roll back, in one run.")
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="The whole environment (the runbook's Full System Rollback): every "
            "infrastructure stack, service and DNS record with something to roll back, in one run.",
        ),
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            "--version",
            help="Target version (default: last known good).",
            callback=bounded_version,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Roll back even to a release that is bad, rolled back or failed, or to the "
            "live one.",
        ),
    ] = False,
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help="Why; goes on the incident timeline.", callback=bounded_reason
        ),
    ] = "manual rollback",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll SERVICE back to its last known good version (or --to VERSION), step by step.

    Several services (or --all) roll back in one run and one incident, in the order their
    depends_on gives: traffic to dependants stops first, dependencies come back first.
    --full adds the DNS records (the runbook's Full System Rollback); dns_record:NAME rolls
    one record back; stack:NAME applies a stack's previous variables (after an approved plan).
    """
    named = services or []
    if full:
        if every or named or to is not None or force:
            raise typer.BadParameter(
                "--full rolls back everything: no names, --all, --to or --force"
            )
        _roll_back_several(
            None, reason, config=config, dry_run=dry_run, yes=yes, as_json=as_json, full=True
        )
        return
    if every and named:
        raise typer.BadParameter("name the service(s) to roll back, or give --all: not both")
    if not every and not named:
        raise typer.BadParameter("name the service(s) to roll back, or give --all")
    if len(named) == 1 and named[0].startswith(DNS_PREFIX):
        if to is not None or force:
            raise typer.BadParameter("a DNS record goes back to its previous target: no --to")
        name = named[0].removeprefix(DNS_PREFIX)
        _roll_back_dns(name, reason, config=config, dry_run=dry_run, yes=yes, as_json=as_json)
        return
    if len(named) == 1 and named[0].startswith(STACK_PREFIX):
        if to is not None or force:
            raise typer.BadParameter("a stack goes back to its previous variables: no --to")
        name = named[0].removeprefix(STACK_PREFIX)
        _roll_back_stack(name, reason, config=config, dry_run=dry_run, yes=yes, as_json=as_json)
        return
    if len(named) == 1:
        request = RollbackRequest(service=named[0], to_version=to, reason=reason, force=force)
        _roll_back_one(request, config=config, dry_run=dry_run, yes=yes, as_json=as_json)
        return
    if to is not None or force:
        raise typer.BadParameter("--to and --force name one release: roll back one service")
    _roll_back_several(
        None if every else named, reason, config=config, dry_run=dry_run, yes=yes, as_json=as_json
    )


def _roll_back_one(
    request: RollbackRequest, *, config: ConfigOption, dry_run: bool, yes: bool, as_json: bool
) -> None:
    service = request.service
    with runtime(config) as rt:
        plan = plan_rollback(rt, request)
        wording = _Wording("service", f"roll {service}", f"Roll {service}", f"rolling {service}")
        _preview_then_run(
            plan,
            lambda: start_rollback(rt, request, actor=actor(), plan=plan),
            wording,
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


def _roll_back_dns(
    name: str, reason: str, *, config: ConfigOption, dry_run: bool, yes: bool, as_json: bool
) -> None:
    """`backout rollback dns_record:NAME`: the record back to its previous recorded target."""
    from backout.operations.dns_runs import plan_dns_rollback, start_dns_rollback

    with runtime(config) as rt:
        plan = plan_dns_rollback(rt, name, reason=reason)
        label = plan.subject.name
        _preview_then_run(
            plan,
            lambda: start_dns_rollback(rt, plan, actor=actor(), reason=reason),
            _Wording("record", f"set {label}", f"Set {label}", f"setting {label}"),
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


def _roll_back_stack(
    name: str, reason: str, *, config: ConfigOption, dry_run: bool, yes: bool, as_json: bool
) -> None:
    """`backout rollback stack:NAME`: the stack's previous variables applied again, once a
    person has read and approved the plan (the run waits at the gate: `backout approve RUN`)."""
    from backout.operations.stack_runs import plan_stack_rollback, start_stack_rollback

    with runtime(config) as rt:
        plan = plan_stack_rollback(rt, name, reason=reason)
        label = plan.subject.label
        _preview_then_run(
            plan,
            lambda: start_stack_rollback(rt, plan, actor=actor(), reason=reason),
            _Wording("stack", label, f"Apply {label}", label),
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


@dataclass(frozen=True)
class _Wording:
    """How a one-subject rollback is said: `json_key` names the subject in --json; the rest
    are followed by "back from X to Y" (the plan, the question) or "back to Y" (the run)."""

    json_key: str
    planned: str
    asked: str
    running: str


def _preview_then_run(
    plan: Plan,
    start: Callable[[], RunHandle],
    wording: _Wording,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Show the plan (a dry run ends there), ask, run it step by step, and exit with its code."""
    # A subject with nothing recorded live (a stack never recorded) has no "from".
    origin = f"from {plan.from_version} " if plan.from_version is not None else ""
    span = f"back {origin}to {plan.target_version}"
    if dry_run:
        if as_json:
            print_json(
                {
                    wording.json_key: plan.subject.name,
                    "from_version": plan.from_version,
                    "to_version": plan.target_version,
                    "steps": _steps(plan),
                }
            )
        else:
            say(f"plan: {wording.planned} {span}")
            for line in plan.describe():
                say(f"  {line}")
            say("dry run: nothing was changed")
        return
    confirm(yes, f"{wording.asked} {span}?")
    run = start()
    if not as_json:
        say(f"run {run.run_id}: {wording.running} back to {plan.target_version}")
    result = run.execute(None if as_json else show_step)
    if as_json:
        print_json({"run_id": result.run_id, "state": result.state, "message": result.message})
    else:
        say(result.message)
    raise typer.Exit(int(result.exit_code))


def _roll_back_several(
    services: list[str] | None,
    reason: str,
    *,
    config: ConfigOption,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    full: bool = False,
) -> None:
    from backout.operations.full_rollback import plan_full
    from backout.operations.several_rollback import (
        plan_several,
        service_outcomes,
        start_several,
    )

    with runtime(config) as rt:
        if full:
            preview = plan_full(rt, reason=reason)
        else:
            preview = plan_several(rt, services, reason=reason)
        if dry_run:
            _show_several_plan(preview, as_json)
            return
        confirm(yes, f"Roll back {preview.plan.aims}?")
        run = start_several(rt, preview, actor=actor())
        if not as_json:
            say(f"run {run.run_id}: rolling back {preview.plan.aims}")
        result = run.execute(None if as_json else show_step)
        outcomes = service_outcomes(rt, run.run_id)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "state": result.state,
                "message": result.message,
                "services": [o.__dict__ for o in outcomes]
                + [
                    {"service": name, "state": "untouched", "detail": why}
                    for name, why in preview.untouched.items()
                ],
            }
        )
    else:
        say(result.message)
        for outcome in outcomes:
            say(f"  {outcome.service}: {outcome.detail}")
        for name, why in preview.untouched.items():
            say(f"  {name}: untouched ({why})")
    raise typer.Exit(int(result.exit_code))


def _show_several_plan(preview: SeveralRollback, as_json: bool) -> None:
    plan = preview.plan
    if as_json:
        targets = [
            {"service": t.subject.key, "from_version": t.from_version, "to_version": t.to_version}
            for t in plan.targets
        ]
        print_json({"services": targets, "untouched": preview.untouched, "steps": _steps(plan)})
        return
    say(f"plan: roll back {plan.aims}")
    for line in plan.describe():
        say(f"  {line}")
    for name, why in preview.untouched.items():
        say(f"  (untouched: {name}: {why})")
    say("dry run: nothing was changed")


def _steps(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"kind": s.kind, "title": s.title, "subject": str(plan.subject_of(s)), "params": s.params}
        for s in plan.steps
    ]


def register(app: typer.Typer) -> None:
    app.command()(rollback)
