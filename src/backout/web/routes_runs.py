"""Routes that change something: start a rollback, approve a waiting run, abort a run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from backout.controller.controller import Controller
from backout.operations import views
from backout.operations.rollback import (
    RollbackRequest,
    abort_run,
    approve_run,
    plan_rollback,
    start_rollback,
)
from backout.operations.tokens import Role
from backout.plans import Plan
from backout.runs.start import RunHandle
from backout.runtime import Runtime
from backout.web.auth import Caller, ControllerDep, RuntimeDep, caller_with
from backout.web.schemas import (
    TOKEN_ERRORS,
    AbortIn,
    ApproveIn,
    PlannedStepOut,
    PlanOut,
    RollbackIn,
    RunAcceptedOut,
    RunDetailOut,
    error_responses,
)

router = APIRouter(tags=["runs"], responses=error_responses(*TOKEN_ERRORS))

RollbackCaller = Annotated[Caller, Depends(caller_with(Role.OPERATOR, "starting a rollback"))]
AbortCaller = Annotated[Caller, Depends(caller_with(Role.OPERATOR, "aborting a run"))]
ApproveCaller = Annotated[Caller, Depends(caller_with(Role.APPROVER, "approving a run"))]

_ERRORS = error_responses(404, 409, 413)


@router.post(
    "/services/{service}/rollback",
    status_code=202,
    responses={200: {"model": PlanOut, "description": "A dry run: the plan"}, **_ERRORS},
    summary="Roll a service back (to its last known good version by default)",
)
def rollback(
    service: str,
    body: RollbackIn,
    *,
    response: Response,
    runtime: RuntimeDep,
    controller: ControllerDep,
    caller: RollbackCaller,
) -> RunAcceptedOut | PlanOut:
    """Answers 202 at once; the run goes on in the server (poll `GET /runs/{run_id}`)."""
    request = RollbackRequest(
        service=service, to_version=body.to_version, reason=body.reason, force=body.force
    )
    if body.dry_run:
        response.status_code = 200
        return _plan_out(plan_rollback(runtime, request))
    return _accept(runtime, controller, start_rollback(runtime, request, actor=caller.actor))


@router.post(
    "/runs/{run_id}/approve",
    status_code=202,
    responses=_ERRORS,
    summary="Approve a run waiting at its approval gate; it goes on in the server",
)
def approve(
    run_id: int,
    runtime: RuntimeDep,
    controller: ControllerDep,
    caller: ApproveCaller,
    body: ApproveIn | None = None,
) -> RunAcceptedOut:
    confirm = body.confirm if body is not None else []
    return _accept(runtime, controller, approve_run(runtime, run_id, caller.actor, confirm=confirm))


@router.post(
    "/runs/{run_id}/abort",
    response_model=RunDetailOut,
    responses=_ERRORS,
    summary="Stop a run where it stands and free its service",
)
def abort(run_id: int, body: AbortIn, runtime: RuntimeDep, caller: AbortCaller) -> dict[str, Any]:
    abort_run(runtime, run_id, caller.actor, body.reason)
    return views.run_detail(runtime, run_id)


def _accept(runtime: Runtime, controller: Controller, handle: RunHandle) -> RunAcceptedOut:
    """Read the run as it stands, then let it go on in the background under the caller's name."""
    run = views.run_detail(runtime, handle.run_id)
    handle.execute_in_background(controller)
    return RunAcceptedOut(run_id=handle.run_id, incident_id=run["incident_id"], state=run["state"])


def _plan_out(plan: Plan) -> PlanOut:
    return PlanOut(
        service=plan.subject.name,
        from_version=plan.from_version,
        to_version=plan.target_version,
        steps=[PlannedStepOut(kind=s.kind, title=s.title, params=s.params) for s in plan.steps],
        description=plan.describe(),
    )
