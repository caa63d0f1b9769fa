"""`backout incidents` and `backout incident show ID`: what happened, and its timeline."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import ConfigOption, JsonOption, print_json, print_table, runtime, say
from backout.operations import views

incident_app = typer.Typer(help="Inspect one incident.", no_args_is_help=True)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def incidents(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List incidents, newest first, with time to detect and to recover."""
    with runtime(config) as rt:
        listing = views.list_incidents(rt)
    if as_json:
        print_json(listing)
        return
    print_table(
        "incidents",
        ["id", "service", "status", "detected", "to detect", "to recover", "RTO", "title"],
        [
            [
                i["id"],
                i["service"],
                i["status"],
                i["detected_at"][:19],
                _seconds(i["time_to_detect_s"]),
                _seconds(i["time_to_recover_s"]),
                _seconds(i["rto_s"]),
                i["title"],
            ]
            for i in listing
        ],
    )


@incident_app.command("show")
def show(
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One incident and its timeline."""
    with runtime(config) as rt:
        detail = views.incident_detail(rt, incident_id)
    if as_json:
        print_json(detail)
        return
    say(f"incident {detail['id']} ({detail['status']}, {detail['category']}): {detail['title']}")
    say(
        f"time to detect {_seconds(detail['time_to_detect_s'])}, "
        f"time to recover {_seconds(detail['time_to_recover_s'])} (RTO {_seconds(detail['rto_s'])})"
    )
    print_table(
        "timeline",
        ["at", "event", "by", "what"],
        [[e["at"][11:23], e["kind"], e["actor"], e["message"]] for e in detail["timeline"]],
    )


def register(app: typer.Typer) -> None:
    from backout.cli import report_cmd

    report_cmd.register(incident_app)  # `incident report` and `incident edit`
    app.command()(incidents)
    app.add_typer(incident_app, name="incident")
