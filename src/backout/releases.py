"""Releases: record what was shipped, give it a verdict, and find the last known good one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.errors import RefusedError, UnknownVersionError
from backout.store import AuditEntry, Deployment, Release, Run, utcnow

# Defined with the tables: a read of them (`backout status`) need not import this module.
from backout.store.tables import ReleaseStatus as ReleaseStatus  # noqa: PLC0414 - re-exported

STOPPED = "service.stopped"  # the audit action of `backout stop`, which the watch loop reads


def history(session: Session, environment: str, service: str) -> list[Release]:
    """Every release of a service, newest first."""
    query = (
        select(Release)
        .where(Release.environment == environment, Release.service == service)
        .order_by(Release.id.desc())
    )
    return list(session.scalars(query))


def find(session: Session, environment: str, service: str, version: str) -> Release:
    """The release `version` of `service`; UnknownVersionError lists the known ones."""
    release = session.scalars(
        select(Release).where(
            Release.environment == environment,
            Release.service == service,
            Release.version == version,
        )
    ).first()
    if release is None:
        known = [r.version for r in history(session, environment, service)]
        raise UnknownVersionError(service, version, known)
    return release


def record(
    session: Session,
    environment: str,
    service: str,
    version: str,
    *,
    ref: str | None,
    actor: str,
    status: ReleaseStatus = ReleaseStatus.DEPLOYING,
    schema_revision: str | None = None,
    config_digest: str | None = None,
) -> Release:
    """Record a release; recording the same version with the same ref again returns it unchanged.

    A pipeline may retry its "record" call, so that is idempotent; the same version with
    another ref is refused, since a version must name one artifact.
    """
    existing = session.scalars(
        select(Release).where(
            Release.environment == environment,
            Release.service == service,
            Release.version == version,
        )
    ).first()
    if existing is not None:
        if ref is not None and existing.ref not in (None, ref):
            raise RefusedError(
                f"{service} {version} is already recorded with ref {existing.ref!r}, not {ref!r}",
                hint="a version names one artifact: give the new build a new version",
            )
        return existing
    release = Release(
        environment=environment,
        service=service,
        version=version,
        ref=ref,
        status=status,
        created_by=actor,
        schema_revision=schema_revision,
        config_digest=config_digest,
    )
    session.add(release)
    session.flush()
    return release


def mark(
    release: Release,
    status: ReleaseStatus,
    *,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Set the verdict; `at` (default now) becomes live_at / good_at, which the RTO maths reads."""
    release.status = status
    release.status_reason = reason
    now = at or utcnow()
    if status is ReleaseStatus.LIVE:  # again after a redeploy: detection counts from now
        release.live_at = now
    if status is ReleaseStatus.GOOD:
        release.good_at = now


def last_known_good(
    session: Session, environment: str, service: str, *, other_than: str | None = None
) -> Release | None:
    """The newest release of `service` marked good and affected by no security advisory
    (optionally not `other_than`): what a rollback returns to."""
    query = (
        select(Release)
        .where(
            Release.environment == environment,
            Release.service == service,
            Release.status == ReleaseStatus.GOOD,
        )
        .order_by(Release.id.desc())
    )
    if other_than is not None:
        query = query.where(Release.version != other_than)
    # Filtered here, not in SQL: a JSON list is read alike on SQLite and PostgreSQL, and a
    # service has few good releases affected by an advisory.
    return next((r for r in session.scalars(query) if not r.advisories), None)


def add_advisory(release: Release, advisory: str) -> bool:
    """Record that `release` is affected by `advisory` (a CVE id); False if it was already."""
    known = list(release.advisories or [])
    if advisory in known:
        return False
    release.advisories = [*known, advisory]  # a new list: the ORM sees the change
    return True


def record_deployment(
    session: Session, release: Release, *, actor: str, run_id: int | None = None
) -> Deployment:
    """Note that `release` is now the one running (a deploy or a rollback put it live)."""
    deployment = Deployment(
        environment=release.environment,
        service=release.service,
        release_id=release.id,
        run_id=run_id,
        actor=actor,
    )
    session.add(deployment)
    session.flush()
    return deployment


def newest_deployment(session: Session, environment: str, service: str) -> Deployment | None:
    """The record of the service's most recent deployment, or None if it was never deployed."""
    return session.scalars(
        select(Deployment)
        .where(Deployment.environment == environment, Deployment.service == service)
        .order_by(Deployment.id.desc())
    ).first()


def live(session: Session, environment: str, service: str) -> Release | None:
    """The release most recently put live, or None if nothing was ever deployed."""
    deployment = newest_deployment(session, environment, service)
    return deployment.release if deployment is not None else None


def record_observed(
    session: Session,
    environment: str,
    subject_key: str,
    version: str,
    *,
    ref: str,
    actor: str,
    run_id: int | None = None,
) -> tuple[Release, bool]:
    """Record `version` as live now for a subject whose state backout reads rather than starts
    (a DNS record's target, a stack's variables); True when that is a change.

    Idempotent: recording the live one again adds nothing. The one it replaces keeps the
    verdict `good` (it was live and nobody judged it), so it can be gone back to.
    """
    release = record(
        session, environment, subject_key, version, ref=ref, actor=actor, status=ReleaseStatus.LIVE
    )
    current = live(session, environment, subject_key)
    if current is not None and current.id == release.id:
        return release, False
    if current is not None and current.status == ReleaseStatus.LIVE:
        mark(current, ReleaseStatus.GOOD, reason=f"replaced by {version}")
    mark(release, ReleaseStatus.LIVE)
    record_deployment(session, release, actor=actor, run_id=run_id)
    return release, True


def previous_live(session: Session, environment: str, subject_key: str) -> Release | None:
    """The newest release deployed before the live one and not rolled back: where a subject
    whose history is its deployments goes back to."""
    deployments = session.scalars(
        select(Deployment)
        .where(Deployment.environment == environment, Deployment.service == subject_key)
        .order_by(Deployment.id.desc())
    )
    live_id: int | None = None
    for deployment in deployments:
        release = deployment.release
        if live_id is None:
            live_id = release.id
        elif release.id != live_id and release.status != ReleaseStatus.ROLLED_BACK:
            return release
    return None


def mark_rolled_back_if_recorded(
    session: Session, environment: str, subject_key: str, version: str, *, reason: str
) -> None:
    """Mark `version` of the subject rolled back, if it was ever recorded (a target set by
    hand and never recorded has no release to mark)."""
    try:
        release = find(session, environment, subject_key, version)
    except UnknownVersionError:
        return
    mark(release, ReleaseStatus.ROLLED_BACK, reason=reason)


_NOT_TO_PUT_BACK = (
    ReleaseStatus.BAD,
    ReleaseStatus.ROLLED_BACK,
    ReleaseStatus.FAILED,
    ReleaseStatus.DEPLOYING,
)


def why_not_live(session: Session, release: Release) -> str | None:
    """Why `release` should not be put live again ('api 1.1.0 was rolled back by run 3 (incident
    2): checkout 500s'), or None when nothing speaks against it."""
    if release.advisories:
        return f"{release.service} {release.version} is affected by {', '.join(release.advisories)}"
    return _verdict_against(session, release)


def _verdict_against(session: Session, release: Release) -> str | None:
    """What `release`'s status says against putting it live again, if anything."""
    if release.status not in _NOT_TO_PUT_BACK:
        return None
    subject = f"{release.service} {release.version}"
    reason = f": {release.status_reason}" if release.status_reason else ""
    if release.status == ReleaseStatus.ROLLED_BACK:
        run = rolled_back_by(session, release)
        if run is not None:
            incident = f" (incident {run.incident_id})" if run.incident_id else ""
            return f"{subject} was rolled back by run {run.id}{incident}{reason}"
        return f"{subject} was rolled back{reason}"
    if release.status == ReleaseStatus.BAD:
        return f"{subject} is marked bad{reason}"
    if release.status == ReleaseStatus.FAILED:
        return f"{subject} failed to deploy{reason}"
    return f"{subject} is still being deployed (it never went live)"


def rolled_back_by(session: Session, release: Release) -> Run | None:
    """The newest rollback run that took the service away from `release`."""
    query = (
        select(Run)
        .where(Run.kind == "application", Run.from_release_id == release.id)
        .order_by(Run.id.desc())
    )
    return session.scalars(query).first()


def stopped_by_hand(session: Session, environment: str, service: str) -> AuditEntry | None:
    """The `backout stop` of `service` since its last deployment, if a person stopped it."""
    deployed_at = session.scalars(
        select(Deployment.at)
        .where(Deployment.environment == environment, Deployment.service == service)
        .order_by(Deployment.id.desc())
    ).first()
    query = (
        select(AuditEntry)
        .where(AuditEntry.action == STOPPED, AuditEntry.target == service)
        .order_by(AuditEntry.id.desc())
        .limit(20)
    )
    if deployed_at is not None:
        query = query.where(AuditEntry.at > deployed_at)
    return next(
        (e for e in session.scalars(query) if (e.detail or {}).get("environment") == environment),
        None,
    )
