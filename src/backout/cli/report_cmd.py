"""`backout incident report ID` and `backout incident edit ID`: the post-incident report, and
the sections of it people write (root cause, lessons learned, action items)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from backout.cli._common import ConfigOption, JsonOption, actor, print_json, runtime, say
from backout.limits import MAX_ACTION_ITEM_CHARS, MAX_ACTION_ITEMS, MAX_REPORT_SECTION_CHARS

IncidentArg = Annotated[int, typer.Argument(help="The incident's id.")]


def report(
    incident_id: IncidentArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="md (Markdown) or html.", show_default=True)
    ] = "md",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write it to this file (default: stdout).", dir_okay=False
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """The post-incident report: summary, impact, timeline, objectives, checklist, root cause,
    lessons learned and action items."""
    from backout.atomic import write_text_atomic
    from backout.operations.report import ReportFormat, render_report

    try:
        chosen = ReportFormat(fmt)
    except ValueError:
        raise typer.BadParameter("md or html", param_hint="--format") from None
    with runtime(config) as rt:
        text = render_report(rt, incident_id, chosen)
    if output is None:
        sys.stdout.write(text)
        return
    write_text_atomic(output, text)  # a reader of the file never sees half a report
    say(f"incident {incident_id}: report written to {output}")


def _bounded(limit: int) -> Callable[[str | None], str | None]:
    """A typer callback refusing a text longer than `limit` (exit 2, before any work)."""

    def check(value: str | None) -> str | None:
        if value is not None and len(value) > limit:
            raise typer.BadParameter(f"at most {limit:,} characters, got {len(value):,}")
        return value

    return check


def _bounded_items(values: list[str] | None) -> list[str] | None:
    if values and len(values) > MAX_ACTION_ITEMS:
        raise typer.BadParameter(f"at most {MAX_ACTION_ITEMS} items, got {len(values)}")
    for value in values or []:
        _bounded(MAX_ACTION_ITEM_CHARS)(value)
    return values


def edit(
    incident_id: IncidentArg,
    root_cause: Annotated[
        str | None,
        typer.Option(
            "--root-cause", help="Why it happened.", callback=_bounded(MAX_REPORT_SECTION_CHARS)
        ),
    ] = None,
    lessons: Annotated[
        str | None,
        typer.Option(
            "--lessons", help="Lessons learned.", callback=_bounded(MAX_REPORT_SECTION_CHARS)
        ),
    ] = None,
    action_items: Annotated[
        list[str] | None,
        typer.Option(
            "--action-item",
            help="An action item (repeat for each); the items given replace the stored list.",
            callback=_bounded_items,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the report's root cause, lessons learned or action items (recorded on the
    incident's timeline as report_edited)."""
    from backout.incidents.report_sections import SectionsEdit
    from backout.operations.report import edit_report

    change = SectionsEdit(root_cause=root_cause, lessons=lessons, action_items=action_items)
    if change.is_empty():
        raise typer.BadParameter("give --root-cause, --lessons or --action-item")
    with runtime(config) as rt:
        sections = edit_report(rt, incident_id, change, actor=actor())
    if as_json:
        print_json(sections)
        return
    items = len(sections["action_items"])
    say(
        f"incident {incident_id}: report edited (root cause "
        f"{'written' if sections['root_cause'] else 'not written'}, lessons "
        f"{'written' if sections['lessons'] else 'not written'}, {items} action item(s))"
    )


def register(incident_app: typer.Typer) -> None:
    incident_app.command("report")(report)
    incident_app.command("edit")(edit)
