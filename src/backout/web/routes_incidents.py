"""Routes people use on an incident: move its status, add a note, confirm a checklist item.
Each answers the incident as `GET /incidents/{id}` shows it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from backout.operations import incidents, views
from backout.operations.tokens import Role
from backout.web.auth import Caller, RuntimeDep, caller_with
from backout.web.schemas import (
    TOKEN_ERRORS,
    IncidentDetailOut,
    IncidentStatusIn,
    NoteIn,
    error_responses,
)

router = APIRouter(tags=["incidents"], responses=error_responses(*TOKEN_ERRORS))

Operator = Annotated[Caller, Depends(caller_with(Role.OPERATOR, "changing an incident"))]
View = dict[str, Any]

_ERRORS = error_responses(404, 409, 413)


@router.post(
    "/incidents/{incident_id}/status",
    response_model=IncidentDetailOut,
    responses=_ERRORS,
    summary="Move an incident's status (409 for a move the lifecycle refuses)",
)
def move(incident_id: int, body: IncidentStatusIn, runtime: RuntimeDep, caller: Operator) -> View:
    incidents.set_status(
        runtime, incident_id, body.status, actor=caller.actor, message=body.message
    )
    return views.incident_detail(runtime, incident_id)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=IncidentDetailOut,
    responses=_ERRORS,
    summary="Add a note to an incident's timeline (public: a public update)",
)
def note(incident_id: int, body: NoteIn, runtime: RuntimeDep, caller: Operator) -> View:
    incidents.add_note(runtime, incident_id, body.text, public=body.public, actor=caller.actor)
    return views.incident_detail(runtime, incident_id)


@router.post(
    "/incidents/{incident_id}/checklist/{item}",
    response_model=IncidentDetailOut,
    responses=_ERRORS,
    summary="Confirm a checklist item of an incident (409 when it is done already)",
)
def confirm(incident_id: int, item: str, runtime: RuntimeDep, caller: Operator) -> View:
    incidents.confirm_item(runtime, incident_id, item, actor=caller.actor)
    return views.incident_detail(runtime, incident_id)
