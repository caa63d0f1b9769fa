"""The DNS record plan: a record set back to its previous target, verified by reading it back.

    set the record set back (one atomic upsert) → read it back until the provider answers it,
    then record it live again and the set it replaced rolled back

Both steps act on the subject `dns_record:NAME`, so a full-environment run can take them as
they are (`dns_rollback_steps`) beside its other subjects' steps.
"""

from __future__ import annotations

from typing import Any

from backout.plans.base import Plan, StepSpec, Target
from backout.subjects import Subject, SubjectKind

DNS_PLAN = "dns"


def dns_record_subject(name: str) -> Subject:
    return Subject(SubjectKind.DNS_RECORD, name)


def dns_rollback_target(name: str, from_version: str | None, to_version: str) -> Target:
    return Target(dns_record_subject(name), from_version, to_version)


def dns_rollback_steps(
    name: str,
    target: dict[str, Any],
    *,
    from_version: str | None,
    to_version: str,
    shown: str,
    reason: str,
) -> list[StepSpec]:
    """Set `name` back to `target` ({type, ttl, values}, the recorded release `to_version`;
    `shown` as a person reads it), then verify and record it."""
    subject = dns_record_subject(name)
    params = {
        "record": name,
        "target": target,
        "from_version": from_version,
        "to_version": to_version,
        "reason": reason,
    }
    return [
        StepSpec("dns_set", f"Set {name} back to {shown}", params, subject=subject),
        StepSpec(
            "dns_verify",
            f"Read {name} back until its provider answers {shown}; record it live again",
            {**params, "timeout_s": 120.0},
            subject=subject,
        ),
    ]


def dns_rollback_plan(
    name: str,
    target: dict[str, Any],
    *,
    from_version: str | None,
    to_version: str,
    shown: str,
    reason: str,
) -> Plan:
    steps = dns_rollback_steps(
        name, target, from_version=from_version, to_version=to_version, shown=shown, reason=reason
    )
    return Plan.single(
        DNS_PLAN,
        dns_record_subject(name),
        steps,
        from_version=from_version,
        to_version=to_version,
    )
