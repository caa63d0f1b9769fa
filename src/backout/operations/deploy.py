"""Deploy a version through the service's driver, and record releases a pipeline deployed."""

from __future__ import annotations

from backout import releases
from backout.audit import audit
from backout.drivers import SlotCapable
from backout.errors import ForceRequiredError, LockedError
from backout.incidents import EventKind, add_event, open_incident_for
from backout.plans import deploy_plan
from backout.plans.pinning import with_unpin
from backout.releases import STOPPED, ReleaseStatus
from backout.runs import locks
from backout.runs.records import RunResult, StepListener
from backout.runs.start import NewRun, start_run
from backout.runtime import Runtime
from backout.store import Release
from backout.subjects import Subject


def record_release(
    runtime: Runtime,
    service: str,
    version: str,
    *,
    ref: str | None,
    actor: str,
    status: ReleaseStatus = ReleaseStatus.LIVE,
    schema_revision: str | None = None,
) -> Release:
    """Record a release deployed by someone else (a pipeline); LIVE also records it as running."""
    runtime.config.service(service)
    with runtime.store.session() as session:
        release = releases.record(
            session,
            runtime.environment,
            service,
            version,
            ref=ref,
            actor=actor,
            schema_revision=schema_revision,
        )
        # A pipeline retrying its call must not demote a verdict given since (good → live).
        if release.status == ReleaseStatus.DEPLOYING or status == ReleaseStatus.GOOD:
            releases.mark(release, status, at=runtime.clock.now())
        if status in (ReleaseStatus.LIVE, ReleaseStatus.GOOD):
            current = releases.live(session, runtime.environment, service)
            # A retried call adds nothing; after a `backout stop`, recording the version again
            # says it runs again, and the watch loop watches it again.
            if (
                current is None
                or current.id != release.id
                or releases.stopped_by_hand(session, runtime.environment, service) is not None
            ):
                releases.record_deployment(session, release, actor=actor)
        audit(session, actor, "release.recorded", service, version=version, ref=ref)
        return release


def deploy(
    runtime: Runtime,
    service: str,
    version: str,
    *,
    ref: str | None,
    actor: str,
    schema_revision: str | None = None,
    force: bool = False,
    on_step: StepListener | None = None,
) -> RunResult:
    """Record `version` (with the schema revision it expects, if given) and run the deploy plan
    (deploy, health checks, mark live) durably.

    A release that was rolled back or marked bad is refused unless `force`: what a rollback
    took away should not come back by accident. Each deploy is its own deployment record, so
    the release's earlier rollback stays in its history.
    """
    config = runtime.config.service(service)
    with runtime.store.session() as session:
        release = releases.record(
            session,
            runtime.environment,
            service,
            version,
            ref=ref,
            actor=actor,
            schema_revision=schema_revision,
        )
        taken_away = release.status in (ReleaseStatus.BAD, ReleaseStatus.ROLLED_BACK)
        if taken_away and not force:
            raise ForceRequiredError(
                f"{releases.why_not_live(session, release)}; not deploying it again",
                hint="fix it and ship a new version, or pass --force to deploy this one again",
            )
        current = releases.live(session, runtime.environment, service)
        plan = deploy_plan(
            service,
            config,
            release=release,
            current=current,
            two_slots=switches_slots(runtime, service),
        )
        if taken_away and runtime.config.pins is not None:
            plan = with_unpin(plan, version=version, reason=f"deployed again by {actor} (--force)")
    handle = start_run(runtime, NewRun(plan, actor=actor, reason=f"deploy {version}"))
    return handle.execute(on_step)


def switches_slots(runtime: Runtime, service: str) -> bool:
    """Whether a version of `service` can start beside the live one and take its traffic from
    it: its router routes traffic and its driver runs two slots."""
    driver = runtime.driver(service)
    return (
        runtime.router(service).routes_traffic
        and isinstance(driver, SlotCapable)
        and bool(driver.slot_ports())
    )


def mark_release(
    runtime: Runtime,
    service: str,
    version: str,
    status: ReleaseStatus,
    *,
    actor: str,
    reason: str | None,
) -> Release:
    runtime.config.service(service)
    with runtime.store.session() as session:
        release = releases.find(session, runtime.environment, service, version)
        releases.mark(release, status, reason=reason)
        audit(session, actor, "release.marked", service, version=version, status=str(status))
        return release


def stop_service(runtime: Runtime, service: str, *, actor: str, reason: str) -> str:
    """Stop what runs of `service` gracefully (the driver's SIGTERM, then its stop_timeout),
    recorded in the audit log and on the service's open incident.

    Refused while a run holds the service: stopping under a deploy or rollback would leave
    both half done. The watch loop leaves a stopped service alone until it is deployed again.
    """
    runtime.config.service(service)
    env = runtime.environment
    with runtime.store.session() as session:
        holder = locks.holder(session, env, Subject.service(service))
        if holder is not None:
            raise LockedError(Subject.service(service).described, holder)
        live = releases.live(session, env, service)
    driver = runtime.driver(service)
    running = driver.current()
    driver.stop()
    what = f"{service} {running} stopped" if running else f"{service} was not running"
    with runtime.store.session() as session:
        version = running or (live.version if live else None)
        audit(session, actor, STOPPED, service, environment=env, version=version, reason=reason)
        incident = open_incident_for(session, env, service)
        if incident is not None:
            add_event(
                session, incident.id, EventKind.STOPPED, f"{what} by {actor}: {reason}", actor=actor
            )
    return what
