"""The DNS record plan: a record set back to its previous target, verified by reading it back.

    set the record set back (one atomic upsert) → read it back until the provider answers it,
    then record it live again and the set it replaced rolled back

Both steps act on the subject `dns_record:NAME`, so a full-environment run can take them as
they are (`dns_rollback_steps`) beside its other subjects' steps.
"""

from __future__ import annotations

from typing import Any

from backout.plans.base import StepSpec, Target
from backout.subjects import Subject

DNS_PLAN = "dns"


def dns_rollback_target(name: str, from_version: str | None, to_version: str) -> Target:
    return Target(Subject.dns_record(name), from_version, to_version)


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
    subject = Subject.dns_record(name)
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
