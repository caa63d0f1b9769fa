"""Read models: plain dicts of services, releases, runs and incidents, for the CLI and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from backout.incidents import time_to_detect, time_to_recover
from backout.limits import DEFAULT_PAGE_SIZE
from backout.operations import incidents
from backout.runs.records import get_run, step_summary
from backout.runtime import Runtime
from backout.store import Deployment, Incident, Release, Run, RunSubject
from backout.store.ids import Row, ids_below
from backout.subjects import Subject, SubjectKind


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def release_view(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "service": release.service,
        "version": release.version,
        "ref": release.ref,
        "schema_revision": release.schema_revision,
        "status": release.status,
        "reason": release.status_reason,
        "created_by": release.created_by,
        "created_at": _iso(release.created_at),
        "live_at": _iso(release.live_at),
        "good_at": _iso(release.good_at),
        "baseline": release.baseline,
    }


def run_view(run: Run, *, with_steps: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": run.id,
        "kind": run.kind,
        "service": run.service,
        "subjects": [
            {
                "kind": s.subject_kind,
                "name": s.subject_name,
                "from_version": s.from_version,
                "to_version": s.target_version,
            }
            for s in run.subjects
        ],
        "from_version": run.from_release.version if run.from_release else None,
        "to_version": run.target_release.version if run.target_release else run.target,
        "state": run.state,
        "reason": run.reason,
        "trigger": run.trigger,
        "incident_id": run.incident_id,
        "actor": run.actor,
        "error": run.error,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "rpo_s": run.rpo_s,
        "restore_s": run.restore_s,
    }
    if with_steps:
        view["steps"] = step_summary(run)
    return view


def incident_view(incident: Incident, *, with_timeline: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": incident.id,
        "service": incident.service,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "category": incident.category,
        "trigger": incident.trigger,
        "detected_at": _iso(incident.detected_at),
        "recovered_at": _iso(incident.recovered_at),
        "resolved_at": _iso(incident.resolved_at),
        "time_to_detect_s": time_to_detect(incident),
        "time_to_recover_s": time_to_recover(incident),
        "rto_s": incident.rto_s,
        "rpo_s": incident.rpo_s,
        "rpo_objective_s": incident.rpo_objective_s,
        "restore_s": incident.restore_s,
    }
    if with_timeline:
        view["timeline"] = [
            {
                "at": _iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "text": e.message,
                "message": e.message,  # the name before `text`, kept for existing readers
                "run_id": e.run_id,
                "evidence": e.evidence,
            }
            for e in incident.events
        ]
    return view


def release_history(
    runtime: Runtime, service: str, *, limit: int | None = None, before: int | None = None
) -> list[dict[str, Any]]:
    """A service's releases, newest first (a page of `limit` with ids below `before`), each
    with its deployments and how each ended (a version deployed again keeps the story of its
    earlier rollback)."""
    runtime.config.service(service)
    env = runtime.environment
    query = select(Release).where(Release.environment == env, Release.service == service)
    with runtime.store.session() as session:
        by_release = _deployments_by_release(session, env, service)
        query = _page(session, query, Release, limit, before)
        return [
            {**release_view(r), "deployments": by_release.get(r.id, [])}
            for r in session.scalars(query)
        ]


def _deployments_by_release(
    session: Session, environment: str, service: str
) -> dict[int, list[dict[str, Any]]]:
    """Each deployment of the service, oldest first, with what ended it: the next one."""
    query = (
        select(Deployment)
        .where(Deployment.environment == environment, Deployment.service == service)
        .order_by(Deployment.id)
    )
    deployments = list(session.scalars(query))
    runs = {
        run.id: run
        for run in session.scalars(
            select(Run).where(Run.id.in_([d.run_id for d in deployments if d.run_id]))
        )
    }
    found: dict[int, list[dict[str, Any]]] = {}
    for this, after in zip(deployments, [*deployments[1:], None][: len(deployments)], strict=True):
        run = runs.get(this.run_id) if this.run_id else None
        ended = None
        if after is not None and after.release_id != this.release_id:
            ended = _ended_by(after, runs.get(after.run_id) if after.run_id else None)
        found.setdefault(this.release_id, []).append(
            {
                "at": _iso(this.at),
                "actor": this.actor,
                "run_id": this.run_id,
                "how": run.kind if run is not None else "recorded",
                "ended": ended,
            }
        )
    return found


def _ended_by(after: Deployment, run: Run | None) -> dict[str, Any]:
    """What replaced a deployment: a rollback (its reason and incident) or the next deploy."""
    return {
        "at": _iso(after.at),
        "by": "rollback" if run is not None and run.kind == "application" else "deploy",
        "to_version": after.release.version,
        "run_id": after.run_id,
        "incident_id": run.incident_id if run is not None else None,
        "reason": run.reason if run is not None else None,
    }


def deployment_story(deployment: dict[str, Any]) -> str:
    """'deployed 2026-12-04 05:01 by alice (run 2); rolled back to 1.0.0 by run 3 (incident 1)
    at 05:10: checkout 500s' — one line of `backout releases`."""
    how = "recorded" if deployment["how"] == "recorded" else f"run {deployment['run_id']}"
    text = f"{deployment['at'][:16].replace('T', ' ')} by {deployment['actor']} ({how})"
    ended = deployment["ended"]
    if ended is None:
        return text
    if ended["by"] == "rollback":
        incident = f" (incident {ended['incident_id']})" if ended["incident_id"] else ""
        text += f"; rolled back to {ended['to_version']} by run {ended['run_id']}{incident}"
        return text + (f": {ended['reason']}" if ended["reason"] else "")
    return text + f"; replaced by {ended['to_version']}"


def list_runs(
    runtime: Runtime,
    *,
    service: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest first: `limit` of them, with ids below `before` when given; `service`: a
    configured service's name (UnknownServiceError for any other) or a subject's key."""
    # The versions each run went from and to come in the same query, not two more per run.
    query = (
        select(Run)
        .where(Run.environment == runtime.environment)
        .options(
            joinedload(Run.from_release),
            joinedload(Run.target_release),
            selectinload(Run.subjects),
        )
    )
    if service is not None:  # a service's name, or a subject's key (database:main)
        subject = _subject_named(service)
        if subject.kind is SubjectKind.SERVICE:
            runtime.config.service(service)  # a typo lists no runs: say it names no service
        acting_on = select(RunSubject.run_id).where(
            RunSubject.subject_kind == subject.kind.value, RunSubject.subject_name == subject.name
        )
        query = query.where(Run.id.in_(acting_on))
    with runtime.store.session() as session:
        query = _page(session, query, Run, limit, before)
        return [run_view(r) for r in session.scalars(query)]


def _subject_named(key: str) -> Subject:
    """The subject `key` names; a key of no known kind names no run (never an error)."""
    try:
        return Subject.from_key(key)
    except ValueError:
        return Subject.service(key)


def _page(
    session: Session,
    query: Select[Row],
    model: type[Row],
    limit: int | None,
    before: int | None,
) -> Select[Row]:
    """`query` newest first, cut to ids below `before` and to `limit` rows."""
    if before is not None:
        query = query.where(ids_below(session, model, before))
    query = query.order_by(model.__table__.c.id.desc())
    return query if limit is None else query.limit(limit)


def run_detail(runtime: Runtime, run_id: int) -> dict[str, Any]:
    with runtime.store.session() as session:
        return run_view(get_run(session, run_id), with_steps=True)


def list_incidents(
    runtime: Runtime, *, limit: int = DEFAULT_PAGE_SIZE, before: int | None = None
) -> list[dict[str, Any]]:
    """Incidents, newest first: `limit` of them, with ids below `before` when given."""
    query = select(Incident).where(Incident.environment == runtime.environment)
    with runtime.store.session() as session:
        query = _page(session, query, Incident, limit, before)
        return [incident_view(i) for i in session.scalars(query)]


def incident_detail(runtime: Runtime, incident_id: int) -> dict[str, Any]:
    with runtime.store.session() as session:
        incident = incidents.find_incident(session, incident_id)
        extras = incidents.objectives_and_checklist(runtime, session, incident)
        return {**incident_view(incident, with_timeline=True), **extras}
