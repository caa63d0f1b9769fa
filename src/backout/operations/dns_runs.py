"""DNS records: record what they point to, show it, and set one back to its previous target.

The previous target of a record is what its history (dns/recording.py) says: the set live
before the recorded live one — unless the record answers something else than the recorded
live set (changed without `backout dns record`), in which case the recorded live set is the
one to go back to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
from backout.operations.subject_incidents import manual_incident_opener
from backout.plans import Plan, StepSpec
from backout.plans.base import Target
from backout.plans.dns import (
    dns_record_subject,
    dns_rollback_plan,
    dns_rollback_steps,
    dns_rollback_target,
)
from backout.runs.start import NewRun, RunHandle, start_run
from backout.runs.storing import IncidentOpener
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
    target = rollback_target(runtime, name)
    record = target.record
    return dns_rollback_plan(
        target.name,
        _params_of(record),
        from_version=target.from_version(),
        to_version=target.back_to.version,
        shown=record.describe(),
        reason=reason,
    )


@dataclass
class DnsParts:
    """For a run over several subjects (`rollback --full`): each record's target and steps,
    and the records left alone with the reason."""

    parts: list[tuple[Target, list[StepSpec]]] = field(default_factory=list)
    untouched: dict[str, str] = field(default_factory=dict)


def dns_rollback_parts(
    runtime: Runtime, *, reason: str, names: list[str] | None = None
) -> DnsParts:
    """Every record of `dns:` (or `names`) with a previous target it does not answer: its
    target and its two steps, to add to a multi-subject plan; read-only."""
    found = DnsParts()
    for name in names or [record.name for record in runtime.config.dns]:
        try:
            target = rollback_target(runtime, name)
        except (NotFoundError, RefusedError) as why:
            found.untouched[name] = why.message
            continue
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
        found.parts.append((goal, steps))
    return found


def start_dns_rollback(runtime: Runtime, plan: Plan, *, actor: str, reason: str) -> RunHandle:
    """Store the previewed plan as a run holding `dns_record:NAME`, inside an incident."""
    opener = _incident_opener(runtime, actor, plan.subject.name, reason)
    return start_run(runtime, NewRun(plan, actor=actor, reason=reason, open_incident=opener))


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


def _incident_opener(runtime: Runtime, actor: str, name: str, reason: str) -> IncidentOpener:
    return manual_incident_opener(
        runtime,
        dns_record_subject(name),
        actor=actor,
        reason=reason,
        rto=runtime.config.objectives.rto.full_system,
    )
