"""`backout rollback SERVICE`: what a person on call, or a pipeline, runs when a release is bad."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    bounded_reason,
    confirm,
    print_json,
    runtime,
    say,
    show_step,
)
from backout.operations.rollback import RollbackRequest, plan_rollback, start_rollback


def rollback(
    service: Annotated[str, typer.Argument(help="The service to roll back.")],
    to: Annotated[
        str | None,
        typer.Option("--to", "--version", help="Target version (default: last known good)."),
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
    """Roll SERVICE back to its last known good version (or --to VERSION), step by step."""
    request = RollbackRequest(service=service, to_version=to, reason=reason, force=force)
    with runtime(config) as rt:
        plan = plan_rollback(rt, request)
        if dry_run:
            if as_json:
                print_json(
                    {
                        "service": service,
                        "from_version": plan.from_version,
                        "to_version": plan.target_version,
                        "steps": [
                            {"kind": s.kind, "title": s.title, "params": s.params}
                            for s in plan.steps
                        ],
                    }
                )
            else:
                say(f"plan: roll {service} back from {plan.from_version} to {plan.target_version}")
                for line in plan.describe():
                    say(f"  {line}")
                say("dry run: nothing was changed")
            return
        confirm(yes, f"Roll {service} back from {plan.from_version} to {plan.target_version}?")
        run = start_rollback(rt, request, actor=actor(), plan=plan)
        if not as_json:
            say(f"run {run.run_id}: rolling {service} back to {plan.target_version}")
        result = run.execute(None if as_json else show_step)
        if as_json:
            print_json({"run_id": result.run_id, "state": result.state, "message": result.message})
        else:
            say(result.message)
        raise typer.Exit(int(result.exit_code))


def register(app: typer.Typer) -> None:
    app.command()(rollback)
