"""One plan from several services' plans: phases interleave the services, and each service's
own order is kept — a two-slot service's traffic moves to the restored slot before the bad one
is drained and retired, also when it is rolled back with others."""

from __future__ import annotations

from backout.config.services import ServiceConfig
from backout.plans.application import application_plan
from backout.plans.base import Plan
from backout.plans.several import several_services_plan
from backout.releases import ReleaseStatus
from backout.store import Release


def _plan(name: str, *, two_slots: bool, approval_gate: bool = False) -> Plan:
    service = ServiceConfig.model_validate(
        {"tier": "critical", "driver": {"type": "fake"}, "router": {"type": "fake"}}
    )
    good = Release(id=1, version="1.0.0", ref=None, status=ReleaseStatus.GOOD)
    bad = Release(id=2, version="1.1.0", ref=None, status=ReleaseStatus.LIVE)
    return application_plan(
        name,
        service,
        target=good,
        current=bad,
        approval_gate=approval_gate,
        reason="errors",
        two_slots=two_slots,
    )


def _steps_of(plan: Plan, subject: str) -> list[str]:
    return [s.kind for s in plan.steps if str(plan.subject_of(s)) == subject]


def test_a_two_slot_service_keeps_its_order_among_others() -> None:
    merged = several_services_plan([_plan("api", two_slots=True), _plan("web", two_slots=False)])

    assert _steps_of(merged, "service:api") == [
        "deploy_beside", "health", "restore_traffic", "drain", "retire", "monitor",
        "mark_release",
    ]  # fmt: skip
    assert _steps_of(merged, "service:web") == [
        "drain", "deploy", "health", "restore_traffic", "monitor", "mark_release",
    ]  # fmt: skip


def test_plain_plans_still_drain_every_dependant_before_any_redeploy() -> None:
    merged = several_services_plan([_plan("api", two_slots=False), _plan("web", two_slots=False)])

    kinds = [(str(merged.subject_of(s)), s.kind) for s in merged.steps]
    assert kinds[:2] == [("service:web", "drain"), ("service:api", "drain")]
    assert kinds.index(("service:api", "deploy")) < kinds.index(("service:web", "deploy"))


def test_every_approval_comes_first_wherever_its_plan_puts_it() -> None:
    merged = several_services_plan(
        [_plan("api", two_slots=True), _plan("web", two_slots=False, approval_gate=True)]
    )

    assert merged.steps[0].kind == "approve"
    assert [s.kind for s in merged.steps].count("approve") == 1
