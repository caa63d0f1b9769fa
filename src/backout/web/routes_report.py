"""The post-incident report over HTTP: read it (viewer) and write its sections (operator)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from backout.incidents.report_sections import SectionsEdit
from backout.operations.report import MEDIA_TYPES, ReportFormat, edit_report, render_report
from backout.operations.tokens import Role
from backout.web.auth import Caller, RuntimeDep, Viewer, caller_with
from backout.web.schemas import TOKEN_ERRORS, error_responses
from backout.web.schemas_report import ReportEditIn, ReportSectionsOut

router = APIRouter(tags=["report"], responses=error_responses(*TOKEN_ERRORS))

Editor = Annotated[Caller, Depends(caller_with(Role.OPERATOR, "editing a report"))]

_REPORT_CONTENT = {
    media.split(";")[0]: {"schema": {"type": "string"}} for media in MEDIA_TYPES.values()
}


@router.get(
    "/incidents/{incident_id}/report",
    response_class=Response,
    responses={
        200: {"description": "The post-incident report.", "content": _REPORT_CONTENT},
        **error_responses(404),
    },
    summary="The post-incident report of an incident, in Markdown or HTML",
)
async def report(
    incident_id: int,
    runtime: RuntimeDep,
    caller: Viewer,
    fmt: Annotated[ReportFormat, Query(alias="format", description="md or html.")] = (
        ReportFormat.MD
    ),
) -> Response:
    text = await asyncio.to_thread(render_report, runtime, incident_id, fmt)
    return Response(text, media_type=MEDIA_TYPES[fmt])


@router.patch(
    "/incidents/{incident_id}/report",
    response_model=ReportSectionsOut,
    responses=error_responses(404, 409, 413),
    summary="Write the report's root cause, lessons learned or action items",
)
def edit(incident_id: int, body: ReportEditIn, runtime: RuntimeDep, caller: Editor) -> Any:
    change = SectionsEdit(
        root_cause=body.root_cause, lessons=body.lessons, action_items=body.action_items
    )
    return edit_report(runtime, incident_id, change, actor=caller.actor)
