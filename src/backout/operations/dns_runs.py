"""DNS records: record what they point to, show it, and set one back to its previous target.

The previous target of a record is what its history (dns/recording.py) says: the set live
before the recorded live one — unless the record answers something else than the recorded
live set (changed without `backout dns record`), in which case the recorded live set is the
one to go back to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backout.dns import DnsError, RecordSet, dns_provider_for
from backout.dns.recording import (
    live_release,
    previous_release,
    record_live,
    recorded_set,
    version_of,
)
from backout.errors import NotFoundError, RefusedError
from backout.operations.subject_incidents import start_subject_run
from backout.plans import Plan
from backout.plans.dns import (
    DNS_PLAN,
    dns_rollback_steps,
    dns_rollback_target,
)
from backout.plans.several import Part, SubjectParts, collect_parts
from backout.runs.start import RunHandle
from backout.runtime import Runtime
from backout.store import Release


@dataclass(frozen=True)
class Recorded:
    name: str
    record: RecordSet
    changed: bool  # a new set was recorded live (False: it was the live one already)


def record_dns(runtime: Runtime, names: list[str] | None, *, actor: str) -> list[Recorded]:
    """Read every record named (default: all of `dns:`) and record what it answers as live."""
    chosen = names or [record.name for record in runtime.config.dns]
    found: list[Recorded] = []
    for name in chosen:
        config = runtime.config.dns_record(name)
        now = dns_provider_for(runtime.config, config.name).read(config.name, config.type)
        if now is None:
            raise RefusedError(f"{config.name} {config.type} does not exist: nothing to record")
        with runtime.store.session() as session:
            _, changed = record_live(session, runtime.environment, now, actor=actor)
        found.append(Recorded(config.name, now, changed))
    return found


@dataclass(frozen=True)
class DnsTarget:
    """Where one record stands and where a rollback would take it."""

    name: str
    answers: RecordSet | None
    back_to: Release

    @property
    def record(self) -> RecordSet:
        return recorded_set(self.back_to)

    def from_version(self) -> str | None:
        return version_of(self.answers) if self.answers is not None else None


def rollback_target(runtime: Runtime, name: str) -> DnsTarget:
    """Where `name` would go back to; NotFoundError when nothing recorded says, RefusedError
    when it answers that already. Read-only."""
    config = runtime.config.dns_record(name)
    answers = dns_provider_for(runtime.config, config.name).read(config.name, config.type)
    with runtime.store.session() as session:
        live = live_release(session, runtime.environment, config.name)
        previous = previous_release(session, runtime.environment, config.name)
        changed_unrecorded = live is not None and not recorded_set(live).same_as(answers)
        if changed_unrecorded and previous is not None and recorded_set(previous).same_as(answers):
            # Put back by hand and not recorded: going "back" to the recorded live set would
            # bring the bad target forward again.
            raise RefusedError(
                f"{config.name} answers its previous target already "
                f"({recorded_set(previous).describe()}), set by hand",
                hint=f"record it: backout dns record {config.name}",
            )
        back_to = live if changed_unrecorded else previous
        if back_to is None:
            raise NotFoundError(
                f"no previous target of {config.name} is recorded",
                hint="record each target as it goes live: backout dns record "
                f"{config.name} (history: backout dns show)",
            )
        session.expunge(back_to)
    target = DnsTarget(config.name, answers, back_to)
    if target.record.same_as(answers):
        raise RefusedError(f"{config.name} answers {target.record.describe()} already")
    return target


def plan_dns_rollback(runtime: Runtime, name: str, *, reason: str) -> Plan:
    """The plan setting `name` back to its previous target; read-only."""
    target, steps = dns_rollback_part(runtime, name, reason=reason)
    return Plan(DNS_PLAN, (target,), steps)


def dns_rollback_part(runtime: Runtime, name: str, *, reason: str) -> Part:
    """`name`'s target and its two steps (set, verify); NotFoundError or RefusedError when it
    has nothing to go back to. Read-only."""
    target = rollback_target(runtime, name)
    record = target.record
    steps = dns_rollback_steps(
        target.name,
        _params_of(record),
        from_version=target.from_version(),
        to_version=target.back_to.version,
        shown=record.describe(),
        reason=reason,
    )
    goal = dns_rollback_target(target.name, target.from_version(), target.back_to.version)
    return goal, steps


def dns_rollback_parts(
    runtime: Runtime, *, reason: str, names: list[str] | None = None
) -> SubjectParts:
    """Every record of `dns:` (or `names`) with a previous target it does not answer, to add
    to a multi-subject plan; read-only."""
    chosen = names or [record.name for record in runtime.config.dns]
    return collect_parts(chosen, lambda name: dns_rollback_part(runtime, name, reason=reason))


def start_dns_rollback(runtime: Runtime, plan: Plan, *, actor: str, reason: str) -> RunHandle:
    """Store the previewed plan as a run holding `dns_record:NAME`, inside an incident."""
    rto = runtime.config.objectives.rto.full_system
    return start_subject_run(runtime, plan, actor=actor, reason=reason, rto=rto)


def dns_overview(runtime: Runtime) -> list[dict[str, Any]]:
    """Each record of `dns:`: what it answers now, what is recorded live, its previous target."""
    rows = []
    for config in runtime.config.dns:
        try:
            now = dns_provider_for(runtime.config, config.name).read(config.name, config.type)
            answers = now.describe() if now is not None else "(no such record)"
        except DnsError as error:
            answers = f"(cannot read: {error.message})"
        with runtime.store.session() as session:
            live = live_release(session, runtime.environment, config.name)
            previous = previous_release(session, runtime.environment, config.name)
            rows.append(
                {
                    "record": config.name,
                    "type": config.type,
                    "provider": config.provider.type,
                    "answers": answers,
                    "recorded_live": recorded_set(live).describe() if live else None,
                    "previous": recorded_set(previous).describe() if previous else None,
                }
            )
    return rows


def _params_of(record: RecordSet) -> dict[str, Any]:
    return {"type": record.rtype, "ttl": record.ttl, "values": list(record.values)}
