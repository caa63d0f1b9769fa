"""Flag changes, made once and recorded: the kill switch, rollouts, removal marks.

Every change goes through the environment's provider (builtin or an Unleash server) and is
recorded the same way: who, when, why, from what to what, and — when an incident of a service
the flag guards is open — on that incident's timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backout.audit import audit
from backout.flags import Flag, FlagProvider
from backout.incidents import EventKind, add_event, open_incident_for
from backout.runtime import Runtime
from backout.store import FlagChange, Incident


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
    with runtime.store.session() as session:
        incidents = _open_incidents(session, runtime, key)
        for incident in incidents:
            add_event(
                session,
                incident.id,
                EventKind.FLAG_CHANGED,
                f"{result.sentence()}: {reason}",
                actor=actor,
                run_id=run_id,
            )
        session.add(
            FlagChange(
                environment=runtime.environment,
                key=key,
                actor=actor,
                reason=reason,
                before=before.as_state(),
                after=after.as_state(),
                incident_id=incidents[0].id if incidents else None,
                run_id=run_id,
            )
        )
        audit(session, actor, "flag.changed", key, before=before.as_state(), after=after.as_state())
    return FlagChanged(after, before, [incident.id for incident in incidents])


def _open_incidents(session: Session, runtime: Runtime, key: str) -> list[Incident]:
    """The open incidents of the services the flag guards."""
    found = [
        open_incident_for(session, runtime.environment, service)
        for service in runtime.config.services_guarded_by(key)
    ]
    return [incident for incident in found if incident is not None]
