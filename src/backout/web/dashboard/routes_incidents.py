"""Incidents: the list, one incident (charts, timeline, objectives, checklist), its report to
download; operators add notes, confirm checklist items and write the report's sections."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response

from backout.incidents.report_sections import SectionsEdit
from backout.limits import (
    MAX_ACTION_ITEM_CHARS,
    MAX_ACTION_ITEMS,
    MAX_NOTE_CHARS,
    MAX_REPORT_SECTION_CHARS,
)
from backout.operations import incidents as incident_ops
from backout.operations import views
from backout.operations.incident_charts import incident_charts
from backout.operations.report import (
    MEDIA_TYPES,
    ReportFormat,
    edit_report,
    render_report,
    report_sections,
)
from backout.web.auth import RuntimeDep
from backout.web.dashboard.access import EditingIncidents, SignedIn
from backout.web.dashboard.charts import chart_views
from backout.web.dashboard.forms import Form, FormError
from backout.web.dashboard.pages import SECURITY_HEADERS, PageRoute, page, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)

INCIDENTS_SHOWN = 50


@router.get("/incidents")
def incidents(request: Request, session: SignedIn, runtime: RuntimeDep) -> Response:
    shown = views.list_incidents(runtime, limit=INCIDENTS_SHOWN)
    return page(request, "dashboard/incidents.html", session, incidents=shown)


@router.get("/incidents/{incident_id}")
def incident(
    request: Request, incident_id: int, session: SignedIn, runtime: RuntimeDep
) -> Response:
    shown = views.incident_detail(runtime, incident_id)
    charts = chart_views(incident_charts(runtime, incident_id))
    sections = report_sections(runtime, incident_id)
    return page(
        request,
        "dashboard/incident.html",
        session,
        incident=shown,
        charts=charts,
        sections=sections,
    )


@router.post("/incidents/{incident_id}/notes")
def note(incident_id: int, session: EditingIncidents, runtime: RuntimeDep, form: Form) -> Response:
    text = form.text("text", max_chars=MAX_NOTE_CHARS)
    public = form.text("public", required=False) == "on"
    incident_ops.add_note(runtime, incident_id, text, public=public, actor=session.actor)
    return see_other(f"/incidents/{incident_id}#timeline")


@router.post("/incidents/{incident_id}/checklist")
def confirm(
    incident_id: int, session: EditingIncidents, runtime: RuntimeDep, form: Form
) -> Response:
    incident_ops.confirm_item(runtime, incident_id, form.text("item"), actor=session.actor)
    return see_other(f"/incidents/{incident_id}#checklist")


@router.post("/incidents/{incident_id}/report")
def write_report(
    incident_id: int, session: EditingIncidents, runtime: RuntimeDep, form: Form
) -> Response:
    """The report's sections as the form has them (action items: one per line)."""
    longest = MAX_REPORT_SECTION_CHARS
    edit = SectionsEdit(
        root_cause=form.text("root_cause", required=False, max_chars=longest),
        lessons=form.text("lessons", required=False, max_chars=longest),
        action_items=_action_items(form.text("action_items", required=False, max_chars=longest)),
    )
    edit_report(runtime, incident_id, edit, actor=session.actor)
    return see_other(f"/incidents/{incident_id}#report")


@router.get("/incidents/{incident_id}/report.{extension}")
async def report(
    incident_id: int, extension: Literal["md", "html"], session: SignedIn, runtime: RuntimeDep
) -> Response:
    """The post-incident report as a file to keep (the API's report, as an attachment)."""
    fmt = ReportFormat(extension)
    text = await asyncio.to_thread(render_report, runtime, incident_id, fmt)
    filename = f"incident-{incident_id}-report.{extension}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type=MEDIA_TYPES[fmt], headers=headers)


def _action_items(text: str) -> list[str]:
    items = [line.strip() for line in text.splitlines() if line.strip()]
    if len(items) > MAX_ACTION_ITEMS:
        given = len(items)
        raise FormError(f"at most {MAX_ACTION_ITEMS} action items, one per line ({given} given)")
    if any(len(item) > MAX_ACTION_ITEM_CHARS for item in items):
        raise FormError(f"an action item is longer than {MAX_ACTION_ITEM_CHARS} characters")
    return items
