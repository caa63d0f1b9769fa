"""`backout incidents`, `backout incident show ID`: what happened, its timeline, objectives and
checklist; `incident status|note|confirm`: what people add to it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    print_json,
    print_table,
    runtime,
    say,
)
from backout.incidents import IncidentStatus
from backout.limits import MAX_NOTE_CHARS
from backout.operations import incidents as people
from backout.operations import views

incident_app = typer.Typer(help="Inspect one incident, or add to it.", no_args_is_help=True)
IncidentArg = Annotated[int, typer.Argument(help="The incident's id.")]


def _note_text(value: str | None) -> str | None:
    """A note is stored on the timeline (and a public one shown on the status page): bounded."""
    if value is None:
        return None
    if not value.strip():
        raise typer.BadParameter("the text is empty")
    if len(value) > MAX_NOTE_CHARS:
        raise typer.BadParameter(f"at most {MAX_NOTE_CHARS:,} characters, got {len(value):,}")
    return value


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
    incident_id: IncidentArg,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One incident: its timeline, its objectives met or missed, and its checklist."""
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
        [[e["at"][11:23], e["kind"], e["actor"], e["text"]] for e in detail["timeline"]],
    )
    print_table(
        "objectives",
        ["objective", "measured", "target", "basis", "met"],
        [
            [o["name"], _seconds(o["measured_s"]), _seconds(o["objective_s"]), o["basis"], _met(o)]
            for o in detail["objectives"]
        ],
    )
    print_table(
        "checklist",
        ["phase", "item", "", "by", "how"],
        [
            [c["phase"], c["id"], "✓" if c["done"] else "·", c["by"], c["how"] or _who(c)]
            for c in detail["checklist"]
        ],
    )
    _say_still_to_confirm(detail)


def _say_still_to_confirm(detail: dict[str, Any]) -> None:
    """The items only people confirm that are still open, by when the runbook asks for them."""
    waiting: dict[str, list[str]] = {}
    for item in detail["checklist"]:
        if item["asked"] and not item["done"]:
            waiting.setdefault(item["asked"], []).append(item["id"])
    if waiting:
        say(f"still to confirm (backout incident confirm {detail['id']} ITEM):")
        for asked, items in waiting.items():
            say(f"  {asked}: {', '.join(items)}")


def _met(objective: dict[str, Any]) -> str:
    return {True: "met", False: "MISSED", None: "not yet known"}[objective["met"]]


def _who(item: dict[str, Any]) -> str:
    """How an open item gets done."""
    return f"backout: {item['checked_when']}" if item["checked_when"] else "a person confirms it"


@incident_app.command("status")
def status(
    incident_id: IncidentArg,
    to: Annotated[IncidentStatus, typer.Argument(help="The status it moves to.")],
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="Why; on the timeline.", callback=_note_text),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Move an incident: identified, monitoring, resolved (or back to investigating)."""
    with runtime(config) as rt:
        say(people.set_status(rt, incident_id, to, actor=actor(), message=message))


@incident_app.command("note")
def note(
    incident_id: IncidentArg,
    text: Annotated[str, typer.Argument(help="The note.", callback=_note_text)],
    public: Annotated[
        bool, typer.Option("--public", help="A public update: shown on the status page.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Add a note to an incident's timeline (--public: a public update)."""
    with runtime(config) as rt:
        say(people.add_note(rt, incident_id, text, public=public, actor=actor()))


@incident_app.command("confirm")
def confirm(
    incident_id: IncidentArg,
    item: Annotated[str, typer.Argument(help="The checklist item's id (see incident show).")],
    config: ConfigOption = None,
) -> None:
    """Confirm an item of the runbook's checklist on an incident; recorded with who."""
    with runtime(config) as rt:
        say(people.confirm_item(rt, incident_id, item, actor=actor()))


def register(app: typer.Typer) -> None:
    from backout.cli import report_cmd

    report_cmd.register(incident_app)  # `incident report` and `incident edit`
    app.command()(incidents)
    app.add_typer(incident_app, name="incident")
