"""`backout rollback --full`, the runbook's "Full System Rollback": one run and one incident
over everything in the config that has something to roll back — the infrastructure stacks
(each to its previous variables, behind an approved plan), the services (each to its last
known good, in their `depends_on` order) and the DNS records (each to its previous recorded
target) — in the order plans/several.py's `full_environment_plan` gives. What has nothing to
roll back is left as it is, and said so.
"""

from __future__ import annotations

from backout.errors import RefusedError
from backout.operations.dns_runs import dns_rollback_parts
from backout.operations.several_rollback import (
    SeveralRollback,
    service_rollback_plans,
)
from backout.operations.stack_runs import stack_rollback_parts
from backout.plans.several import Part, full_environment_plan, several_services_plan
from backout.runtime import Runtime


def plan_full(runtime: Runtime, *, reason: str) -> SeveralRollback:
    """The one plan of the whole environment; read-only. RefusedError when nothing in it has
    anything to roll back."""
    plans, untouched = service_rollback_plans(runtime, None, reason=reason)
    services = several_services_plan(plans) if plans else None
    stacks = stack_rollback_parts(runtime, reason=reason)
    infrastructure: list[Part] = stacks.parts
    untouched.update({f"stack:{name}": why for name, why in stacks.untouched.items()})
    dns = dns_rollback_parts(runtime, reason=reason)
    untouched.update({f"dns_record:{name}": why for name, why in dns.untouched.items()})
    if services is None and not infrastructure and not dns.parts:
        said = (
            "; ".join(f"{name}: {why}" for name, why in untouched.items())
            or "nothing is configured"
        )
        raise RefusedError(f"nothing in the environment has anything to roll back ({said})")
    plan = full_environment_plan(infrastructure, services, dns.parts)
    return SeveralRollback(plan, untouched, reason)
