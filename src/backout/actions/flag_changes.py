"""Flag changes, made once and recorded: the kill switch, rollouts, removal marks.

Every change goes through the environment's provider (builtin or an Unleash server) and is
recorded the same way: who, when, why, from what to what, and — when an incident of a service
the flag guards is open — on that incident's timeline.

The record is written with Core statements on the store's tables: the kill switch is pressed
during an incident and must answer at once, and loading the ORM (its import and the mapping of
backout's classes) took a third of a second. Only a timeline event, when an incident is open,
is written through the incidents room's ORM function, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from backout.audit import audit
from backout.flags import Flag, FlagProvider
from backout.runtime import Runtime
from backout.store import Store
from backout.store.tables import flag_changes, incidents


@dataclass(frozen=True)
class FlagChanged:
    flag: Flag
    before: Flag
    incident_ids: list[int]

    @property
    def changed(self) -> bool:
        return self.flag != self.before

    def sentence(self) -> str:
        if not self.changed:
            return f"flag {self.flag.key} was already {_exposure(self.flag)}: nothing changed"
        if self.flag.to_remove and not self.before.to_remove:
            return f"flag {self.flag.key} ({_exposure(self.flag)}) marked to remove"
        return f"flag {self.flag.key}: {_exposure(self.before)} → {_exposure(self.flag)}"


def _exposure(flag: Flag) -> str:
    """Who gets the flag now; a disabled flag's rollout waiting for it to come back is noise."""
    return flag.exposure() if flag.enabled else "off"


def disable(
    runtime: Runtime, key: str, *, actor: str, reason: str, run_id: int | None = None
) -> FlagChanged:
    """The kill switch."""
    return _change(runtime, key, lambda p: p.set_enabled(key, False), actor, reason, run_id)


def enable(
    runtime: Runtime, key: str, *, actor: str, reason: str, run_id: int | None = None
) -> FlagChanged:
    return _change(runtime, key, lambda p: p.set_enabled(key, True), actor, reason, run_id)


def rollout(
    runtime: Runtime, key: str, percent: int, *, actor: str, reason: str, run_id: int | None = None
) -> FlagChanged:
    """Expose the flag to `percent` of users (sticky); the flag stays on or off as it is."""
    return _change(runtime, key, lambda p: p.set_rollout(key, percent), actor, reason, run_id)


def mark_to_remove(
    runtime: Runtime, key: str, *, actor: str, reason: str, run_id: int | None = None
) -> FlagChanged:
    """Mark the flag for removal: the next release's checklist names it."""
    return _change(runtime, key, lambda p: p.mark_to_remove(key), actor, reason, run_id)


def _change(  # noqa: PLR0917 - private; every public verb above names its arguments
    runtime: Runtime,
    key: str,
    apply: Callable[[FlagProvider], Flag],
    actor: str,
    reason: str,
    run_id: int | None,
) -> FlagChanged:
    provider = runtime.flags()
    before = provider.flag(key)
    after = apply(provider)
    result = FlagChanged(after, before, [])
    if not result.changed:
        return result
    guarded = runtime.config.services_guarded_by(key)
    # Fenced: a run turns flags off under its lease, and a process that lost it records nothing.
    with runtime.store.connection(fenced=True) as connection:
        incident_ids = _open_incidents(connection, runtime.environment, guarded)
        line = f"{result.sentence()}: {reason}"
        _on_timelines(runtime.store, connection, incident_ids, line, actor=actor, run_id=run_id)
        connection.execute(
            insert(flag_changes).values(
                environment=runtime.environment,
                key=key,
                actor=actor,
                reason=reason,
                before=before.as_state(),
                after=after.as_state(),
                incident_id=incident_ids[0] if incident_ids else None,
                run_id=run_id,
            )
        )
        states = {"before": before.as_state(), "after": after.as_state()}
        audit(connection, actor, "flag.changed", key, **states)
    return FlagChanged(after, before, incident_ids)


def _open_incidents(connection: Connection, environment: str, services: Sequence[str]) -> list[int]:
    """The open incident of each service the flag guards, in the order of `services`: the
    newest unresolved one, as `incidents.open_incident_for` finds it."""
    if not services:
        return []
    newest = connection.execute(
        select(incidents.c.service, func.max(incidents.c.id))
        .where(
            incidents.c.environment == environment,
            incidents.c.service.in_(services),
            incidents.c.status != "resolved",
        )
        .group_by(incidents.c.service)
    )
    by_service: dict[str, int] = {service: incident_id for service, incident_id in newest}
    return [by_service[service] for service in services if service in by_service]


def _on_timelines(
    store: Store,
    connection: Connection,
    incident_ids: list[int],
    line: str,
    *,
    actor: str,
    run_id: int | None,
) -> None:
    """The change on the timeline of each open incident, in the change's transaction."""
    if not incident_ids:
        return
    from backout.incidents import EventKind, add_event  # noqa: PLC0415 - the ORM, only now

    with store.session_on(connection) as session:
        for incident_id in incident_ids:
            kind = EventKind.FLAG_CHANGED
            add_event(session, incident_id, kind, line, actor=actor, run_id=run_id)
