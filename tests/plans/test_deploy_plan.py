"""The deploy plan: deploy, check, mark live — or, when the router routes traffic and the driver
runs two slots, the same switch as a two-slot rollback, so a deploy refuses no request either."""

from __future__ import annotations

from backout.config.services import ServiceConfig
from backout.plans.base import Plan
from backout.plans.deploy import deploy_plan
from backout.store import Release

SERVICE = ServiceConfig.model_validate(
    {"tier": "critical", "driver": {"type": "fake"}, "router": {"type": "fake"}}
)
LIVE = Release(id=1, version="1.0.0", ref=None)


def _kinds(plan: Plan) -> list[str]:
    return [s.kind for s in plan.steps]


def _deploying(version: str, current: Release | None, *, two_slots: bool) -> Plan:
    release = Release(id=2, version=version, ref=f"v{version}")
    return deploy_plan("api", SERVICE, release=release, current=current, two_slots=two_slots)


def test_a_plain_deploy_replaces_then_checks_then_marks_live() -> None:
    assert _kinds(_deploying("1.1.0", LIVE, two_slots=False)) == [
        "deploy", "health", "mark_release",
    ]  # fmt: skip


def test_a_two_slot_deploy_moves_all_traffic_before_it_drains_and_retires_the_live_one() -> None:
    plan = _deploying("1.1.0", LIVE, two_slots=True)

    assert _kinds(plan) == [
        "deploy_beside", "health", "restore_traffic", "drain", "retire", "mark_release",
    ]  # fmt: skip
    shift = plan.steps[2].params
    assert (shift["version"], shift["stages"], shift["hold_s"]) == ("1.1.0", [100], 0.0)
    assert plan.steps[3].params["version"] == plan.steps[4].params["version"] == "1.0.0"


def test_a_first_deploy_or_a_redeploy_of_the_live_version_retires_nothing() -> None:
    first = _deploying("1.0.0", None, two_slots=True)
    again = _deploying("1.0.0", LIVE, two_slots=True)

    assert _kinds(first) == _kinds(again) == ["deploy_beside", "health", "restore_traffic",
                                               "mark_release"]  # fmt: skip
