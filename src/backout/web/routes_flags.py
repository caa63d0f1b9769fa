"""Routes of the on-call's flag commands: list and read flags, the kill switch, rollouts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from backout.actions import flag_changes
from backout.actions.flag_changes import FlagChanged
from backout.limits import MAX_REASON_CHARS
from backout.operations import flags as flag_ops
from backout.operations.tokens import Role
from backout.web.auth import Caller, RuntimeDep, caller_with
from backout.web.schemas import TOKEN_ERRORS, error_responses

router = APIRouter(tags=["flags"], responses=error_responses(*TOKEN_ERRORS))

Viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "reading flags"))]
Operator = Annotated[Caller, Depends(caller_with(Role.OPERATOR, "changing a flag"))]

_NOT_FOUND = error_responses(404)
_CHANGE_ERRORS = error_responses(404, 409, 413)


class FlagChangeIn(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=MAX_REASON_CHARS,
        description="Why; recorded, and on the open incident's timeline.",
    )


class RolloutIn(FlagChangeIn):
    percent: int = Field(ge=0, le=100, description="Percent of users (sticky on the user id).")


class FlagChangedOut(BaseModel):
    key: str
    changed: bool
    exposure: str
    before: str
    sentence: str
    incident_ids: list[int]


@router.get("/flags", summary="Every flag of the environment and its exposure")
def list_flags(runtime: RuntimeDep, caller: Viewer) -> list[dict[str, Any]]:
    return [flag_ops.flag_view(flag) for flag in flag_ops.list_flags(runtime)]


@router.get("/flags/{key}", responses=_NOT_FOUND, summary="One flag and who changed it, when, why")
def show_flag(key: str, runtime: RuntimeDep, caller: Viewer) -> dict[str, Any]:
    return flag_ops.flag_detail(runtime, key)


@router.post("/flags/{key}/disable", responses=_CHANGE_ERRORS, summary="The kill switch")
def disable(key: str, body: FlagChangeIn, runtime: RuntimeDep, caller: Operator) -> FlagChangedOut:
    return _out(flag_changes.disable(runtime, key, actor=caller.actor, reason=body.reason))


@router.post("/flags/{key}/enable", responses=_CHANGE_ERRORS, summary="Turn a flag on again")
def enable(key: str, body: FlagChangeIn, runtime: RuntimeDep, caller: Operator) -> FlagChangedOut:
    return _out(flag_changes.enable(runtime, key, actor=caller.actor, reason=body.reason))


@router.post("/flags/{key}/rollout", responses=_CHANGE_ERRORS, summary="Expose a flag to a share")
def rollout(key: str, body: RolloutIn, runtime: RuntimeDep, caller: Operator) -> FlagChangedOut:
    change = flag_changes.rollout(
        runtime, key, body.percent, actor=caller.actor, reason=body.reason
    )
    return _out(change)


def _out(change: FlagChanged) -> FlagChangedOut:
    return FlagChangedOut(
        key=change.flag.key,
        changed=change.changed,
        exposure=change.flag.exposure(),
        before=change.before.exposure(),
        sentence=change.sentence(),
        incident_ids=change.incident_ids,
    )
