"""The post-incident report: rendered from the incident (Markdown or HTML, one Jinja2 template
per format over one context, report_context.py), its written sections edited by people, and
the reminder when it is still unwritten after it was due."""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select

from backout.errors import BackoutError, FencedError, NotFoundError
from backout.incidents.report_sections import (
    SectionsEdit,
    read_sections,
    remind_unfinished_reports,
    write_sections,
)
from backout.operations import views
from backout.operations.report_context import report_context, spoken
from backout.runtime import Runtime
from backout.store.ids import can_hold_id
from backout.store.tables import incidents, run_subjects, runs
from backout.subjects import SubjectKind

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

REMINDER_ACTOR = "backout-watch"


class ReportFormat(StrEnum):
    MD = "md"
    HTML = "html"


MEDIA_TYPES = {ReportFormat.MD: "text/markdown; charset=utf-8", ReportFormat.HTML: "text/html"}


def render_report(runtime: Runtime, incident_id: int, fmt: ReportFormat) -> str:
    """The incident's post-incident report in `fmt`; NotFoundError for an unknown incident."""
    context = report_data(runtime, incident_id)
    return templates().get_template(f"report.{fmt.value}").render(**context)


def report_data(runtime: Runtime, incident_id: int) -> dict[str, Any]:
    """What the report says, as one mapping (also the context its templates render)."""
    detail = views.incident_detail(runtime, incident_id)  # NotFoundError when unknown
    with runtime.store.connection() as connection:
        sections = read_sections(connection, incident_id).as_dict()
        affected = _affected_services(connection, incident_id, detail["service"])
    return report_context(
        detail,
        sections,
        project=runtime.config.project,
        affected_services=affected,
        now=runtime.clock.now(),
    )


def _affected_services(connection: Any, incident_id: int, service: str) -> list[str]:
    """The incident's service, then every other service its runs acted on."""
    query = (
        select(run_subjects.c.subject_name)
        .join(runs, runs.c.id == run_subjects.c.run_id)
        .where(
            runs.c.incident_id == incident_id,
            run_subjects.c.subject_kind == SubjectKind.SERVICE.value,
        )
        .order_by(runs.c.id, run_subjects.c.position)
    )
    names = [service, *connection.execute(query).scalars()]
    return list(dict.fromkeys(names))


def edit_report(
    runtime: Runtime, incident_id: int, edit: SectionsEdit, *, actor: str
) -> dict[str, Any]:
    """Store the sections `edit` gives (report_edited on the timeline); the sections now."""
    with runtime.store.session() as session:
        _require_incident(session, runtime.environment, incident_id)
        sections = write_sections(session, incident_id, edit, actor=actor, at=runtime.clock.now())
    return sections.as_dict()


def report_sections(runtime: Runtime, incident_id: int) -> dict[str, Any]:
    """The written sections of a known incident's report."""
    with runtime.store.connection() as connection:
        _require_incident(connection, runtime.environment, incident_id)
        return read_sections(connection, incident_id).as_dict()


def _require_incident(db: Session | Connection, environment: str, incident_id: int) -> None:
    """NotFoundError unless the environment has the incident (one indexed query)."""
    if not can_hold_id(db, incidents, incident_id):
        raise _unknown(incident_id)
    query = select(incidents.c.id).where(
        incidents.c.id == incident_id, incidents.c.environment == environment
    )
    if db.execute(query).first() is None:
        raise _unknown(incident_id)


def _unknown(incident_id: int) -> NotFoundError:
    return NotFoundError(
        f"there is no incident {incident_id}", hint="list them with: backout incidents"
    )


class ReportReminder:
    """Reminds of unwritten reports for the watch loop: `check()` once per cycle does the
    store's query at most once a minute (the due time is hours; a cycle is a second)."""

    every_s = 60.0

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._next_check: float | None = None

    def check(self) -> list[int]:
        """The incidents reminded now (one report_reminder each, once per incident)."""
        clock = self.runtime.clock
        if self._next_check is not None and clock.monotonic() < self._next_check:
            return []
        self._next_check = clock.monotonic() + self.every_s
        try:
            return remind_now(self.runtime)
        except FencedError:
            raise  # the controller lost its lease: it steps down, as for any other change
        except BackoutError as error:  # a reminder must never stop the watch
            log.warning("could not check for unfinished reports: %s", error.message)
            return []


def remind_now(runtime: Runtime) -> list[int]:
    """One report_reminder on each resolved incident whose report is overdue and unwritten."""
    due_after = runtime.config.incidents.report_due_after
    with runtime.store.session() as session:
        reminded = remind_unfinished_reports(
            session,
            runtime.environment,
            now=runtime.clock.now(),
            due_after=due_after,
            actor=REMINDER_ACTOR,
        )
    for incident_id in reminded:
        log.info(
            "incident %s: its report is unfinished %s after resolution: reminded",
            incident_id,
            spoken(due_after.total_seconds()),
        )
    return reminded


@cache
def templates() -> Environment:
    """The report's and the status page's templates; HTML ones are autoescaped (a note or a
    title is text, never markup), Markdown ones escape table cells with `cell`."""
    environment = Environment(
        loader=PackageLoader("backout", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = markdown_cell
    environment.filters["spoken"] = spoken
    environment.filters["moment"] = moment
    return environment


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped, no HTML tag (a title
    or a message is text, never markup a renderer would run). A lone `>` opens no tag and is
    left as is, so "error rate 33% > 5%" reads the same in the file as rendered."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return " ".join(text.split()).replace("|", "\\|")


def moment(value: str | None) -> str:
    """'2026-11-25 14:03:07 UTC' of an ISO time; '-' when there is none."""
    if not value:
        return "-"
    return value[:19].replace("T", " ") + " UTC"
