"""Databases: each one's backups and the moments a restore can reach, and a restore to a time —
its plan, with the data-loss window, shown before anyone confirms it.

A restore lands beside the live data (a side cluster, or a new database) by default: an
operator may start one. A restore in place replaces the live data (after a fresh, checked
backup, the old data kept under another name): it needs an approver, and the database's name
typed again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from backout.errors import BackoutError
from backout.limits import MAX_REASON_CHARS
from backout.operations.database import list_backups, restore_points
from backout.operations.database_runs import start_restore
from backout.operations.restore_preview import preview_restore, reaches_any_moment
from backout.operations.tokens import Role, require
from backout.runtime import Runtime
from backout.web.auth import ControllerDep, RuntimeDep
from backout.web.dashboard.access import Restoring, SignedIn
from backout.web.dashboard.forms import Form, FormError, FormFields
from backout.web.dashboard.pages import PageRoute, page, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/databases")
def databases(request: Request, session: SignedIn, runtime: RuntimeDep) -> Response:
    shown = [_overview(runtime, name) for name in runtime.config.databases]
    return page(request, "dashboard/databases.html", session, databases=shown)


@router.get("/databases/{name}")
def database(request: Request, name: str, session: SignedIn, runtime: RuntimeDep) -> Response:
    runtime.config.database(name)  # an unknown name is a 404 page listing the known ones
    backups = list_backups(runtime, name)
    points = restore_points(runtime, name)
    return page(
        request,
        "dashboard/database.html",
        session,
        database=name,
        backups=backups,
        restore_points=points,
        point_in_time=reaches_any_moment(runtime, name),
    )


@router.post("/databases/{name}/restore/plan")
def restore_plan(
    request: Request, name: str, session: SignedIn, runtime: RuntimeDep, form: Form
) -> Response:
    """The plan of a restore to the form's time; nothing is changed (any signed-in role)."""
    preview = preview_restore(runtime, name, to_time=_moment(form), in_place=_in_place(form))
    return page(request, "dashboard/restore_plan.html", session, preview=preview)


@router.post("/databases/{name}/restore")
def restore(
    name: str, session: Restoring, runtime: RuntimeDep, controller: ControllerDep, form: Form
) -> Response:
    in_place = _in_place(form)
    if in_place:
        require(session.role, Role.APPROVER, "a restore that replaces the live data")
        if form.text("confirm_name", required=False) != name:
            raise FormError(f"type the database's name, {name}, to replace its live data")
    preview = preview_restore(runtime, name, to_time=_moment(form), in_place=in_place)
    handle = start_restore(
        runtime,
        name,
        backup_id=None,
        to_time=preview.target,
        restore_point=None,
        reason=form.text("reason", max_chars=MAX_REASON_CHARS),
        in_place=in_place,
        actor=session.actor,
    )
    handle.execute_in_background(controller)
    return see_other(f"/runs/{handle.run_id}")


def _overview(runtime: Runtime, name: str) -> dict[str, Any]:
    """A database's line of the list: its newest backup, or why none can be read."""
    engine = runtime.config.database(name).backup
    try:
        backups = list_backups(runtime, name)
    except BackoutError as error:
        return {"name": name, "engine": engine.type, "problem": error.message, "backups": 0}
    newest = backups[-1] if backups else None
    return {
        "name": name,
        "engine": engine.type,
        "backups": len(backups),
        "newest": newest["finished_at"] if newest else None,
        "earliest": backups[0]["finished_at"] if backups else None,
        "problem": None,
    }


def _moment(form: FormFields) -> datetime:
    """The form's `to_time`: ISO 8601; one without a zone is UTC (what the page shows)."""
    text = form.text("to_time", max_chars=64)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FormError(f"{text!r} is not a time: give it as 2026-12-04T10:15:00") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in_place(form: FormFields) -> bool:
    placement = form.text("placement", required=False) or "beside"
    if placement not in ("beside", "in_place"):
        raise FormError("placement is `beside` or `in_place`")
    return placement == "in_place"
