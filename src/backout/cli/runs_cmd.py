"""`backout runs`, `run show`, `resume`, `abort`, `approve`: the life of a run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    bounded_reason,
    console,
    print_json,
    print_table,
    runtime,
    say,
    show_step,
)
from backout.operations import views

run_app = typer.Typer(help="Inspect one run.", no_args_is_help=True)


def runs(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs (rollbacks and deploys), newest first."""
    with runtime(config) as rt:
        listing = views.list_runs(rt, service=service, limit=limit)
    if as_json:
        print_json(listing)
        return
    print_table(
        "runs",
        ["id", "kind", "service", "from", "to", "state", "created", "reason"],
        [
            [
                r["id"],
                r["kind"],
                r["service"],
                r["from_version"],
                r["to_version"],
                r["state"],
                r["created_at"][:19],
                r["reason"],
            ]
            for r in listing
        ],
    )


@run_app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run and its steps."""
    with runtime(config) as rt:
        detail = views.run_detail(rt, run_id)
    if as_json:
        print_json(detail)
        return
    moving = " → ".join(str(v) for v in (detail["from_version"], detail["to_version"]) if v)
    if detail["to_version"] and not detail["from_version"]:
        moving = f"→ {moving}"  # nothing it went from (a restore to a backup)
    say(
        f"run {detail['id']}: {detail['kind']} {detail['service']} "
        f"{moving + ', ' if moving else ''}{detail['state']} ({detail['reason']})"
    )
    if detail["error"]:
        console.print(Text(detail["error"], style="red"), soft_wrap=True)
    print_table(
        "steps",
        ["#", "step", "state", "attempts", "message"],
        [
            [s["position"], s["title"], s["state"], s["attempts"], s["message"]]
            for s in detail["steps"]
        ],
    )


def resume(config: ConfigOption = None) -> None:
    """Finish every run a crashed process left unfinished."""
    from backout.operations.rollback import resume_all  # here: `runs` and `run show` only read

    with runtime(config) as rt:
        results = resume_all(rt, actor=actor(), on_step=show_step)
    if not results:
        say("nothing to resume")
    for result in results:
        say(f"run {result.run_id}: {result.message}")
    worst = max((int(r.exit_code) for r in results), default=0)
    raise typer.Exit(worst)


def abort(
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    reason: Annotated[
        str, typer.Option(help="Why; goes on the timeline.", callback=bounded_reason)
    ] = "aborted by hand",
    config: ConfigOption = None,
) -> None:
    """Abort a run where it stands and free its service; steps already done stay done."""
    from backout.operations.rollback import abort_run

    with runtime(config) as rt:
        abort_run(rt, run_id, actor(), reason)
    say(f"run {run_id} aborted")


def approve(
    run_id: Annotated[int, typer.Argument(help="The run waiting for approval.")],
    confirm: Annotated[
        list[str] | None,
        typer.Option(
            "--confirm",
            help="A checklist item you confirm with the approval, as the gate asks "
            "(communication_prepared); repeatable.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Approve a run waiting at its gate, and carry it on in this process."""
    from backout.operations.rollback import approve_run

    with runtime(config) as rt:
        run = approve_run(rt, run_id, actor(), confirm=confirm or ())
        confirmed = f", confirming {', '.join(confirm)}" if confirm else ""
        say(f"run {run_id} approved by {actor()}{confirmed}")
        result = run.execute(show_step)
    say(result.message)
    raise typer.Exit(int(result.exit_code))


def register(app: typer.Typer) -> None:
    app.command()(runs)
    app.add_typer(run_app, name="run")
    app.command()(resume)
    app.command()(abort)
    app.command()(approve)
