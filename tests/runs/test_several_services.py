"""Several services rolled back in one run: one incident, one timeline, each service's lock,
traffic to dependants stopped first and dependencies brought back first; a failure part-way
reports where each service was left; two such runs asked at once never wait on each other."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from backout import releases
from backout.clock import wait_until
from backout.errors import ExitCode
from backout.operations.several_rollback import plan_several, service_outcomes, start_several
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.store import Incident

if TYPE_CHECKING:
    from conftest import FakeClock, Site

WEB_NEEDS_API = {"web": ["api"]}


def test_dependants_lose_traffic_first_and_dependencies_come_back_first(
    site: Site, clock: FakeClock
) -> None:
    site.configure(depends_on=WEB_NEEDS_API)
    runtime = site.runtime(clock)
    preview = plan_several(runtime, ["web", "api"], reason="checkout errors")

    run = start_several(runtime, preview, actor="tester")
    result = run.execute()

    assert result.state is RunState.SUCCEEDED, result.message
    order = [(step.kind, step.params.get("version")) for step in site.steps(run.run_id)]
    drains = [i for i, (kind, _) in enumerate(order) if kind == "drain"]
    deploys = [i for i, (kind, _) in enumerate(order) if kind == "deploy"]
    subjects = [s["subject"] for s in _steps_of(site, run.run_id)]
    assert [subjects[i] for i in drains] == ["service:web", "service:api"]
    assert [subjects[i] for i in deploys] == ["service:api", "service:web"]
    assert max(drains) < min(deploys), "no redeploy before every dependant's traffic is off"
    assert {site.live_version("api"), site.live_version("web")} == {"1.0.0"}
    assert site.lock_holder("api") is None
    assert site.lock_holder("web") is None
    assert site.incident_count() == 1, "one incident for the run, not one per service"
    _, kinds = site.incident(site.run(run.run_id).incident_id or 0)
    assert kinds.count("run_planned") == 1
    assert kinds.count("run_succeeded") == 1
    assert [o.state for o in service_outcomes(runtime, run.run_id)] == ["rolled_back"] * 2


def test_the_incident_recovers_when_the_last_service_is_healthy_not_the_first(
    site: Site, clock: FakeClock
) -> None:
    site.configure(depends_on=WEB_NEEDS_API, health_command="true")
    runtime = site.runtime(clock)
    run = start_several(runtime, plan_several(runtime, None, reason="errors"), actor="tester")

    assert run.execute().state is RunState.SUCCEEDED

    _, kinds = site.incident(site.run(run.run_id).incident_id or 0)
    api_health, web_health = [s.position for s in site.steps(run.run_id) if s.kind == "health"]
    assert kinds.count("recovered") == 1
    # Recovered while the last service's health checks passed, not when the first one's did.
    api_healthy = _event_of_step(site, run.run_id, api_health)
    web_healthy = _event_of_step(site, run.run_id, web_health)
    assert api_healthy < kinds.index("recovered") < web_healthy


def _event_of_step(site: Site, run_id: int, position: int) -> int:
    """The index, on the run's incident timeline, of the event saying step `position` ended."""
    with site.runtime().store.session() as session:
        incident = session.get(Incident, site.run(run_id).incident_id)
        assert incident is not None
        return next(
            i
            for i, e in enumerate(incident.events)
            if e.kind == "step_succeeded" and e.message.startswith(f"step {position}/")
        )


def test_while_it_runs_each_service_is_locked_by_it(site: Site, clock: FakeClock) -> None:
    runtime = site.runtime(clock)
    run = start_several(runtime, plan_several(runtime, None, reason="all"), actor="tester")

    assert site.lock_holder("api") == site.lock_holder("web") == run.run_id
    refused = site.backout("rollback", "web", "--yes")
    assert refused.returncode == ExitCode.LOCKED
    assert f"service 'web' is locked by run {run.run_id}" in refused.stderr


def test_a_failure_part_way_says_where_each_service_was_left(site: Site, clock: FakeClock) -> None:
    site.configure(depends_on=WEB_NEEDS_API, fail_versions=["1.0.0"], retries=0)
    runtime = site.runtime(clock)
    run = start_several(runtime, plan_several(runtime, None, reason="errors"), actor="tester")

    result = run.execute()

    assert result.state is RunState.FAILED
    outcomes = {o.service: o for o in service_outcomes(runtime, run.run_id)}
    assert outcomes["api"].state == "failed"
    assert "Deploy 1.0.0" in outcomes["api"].detail or "1.0.0" in outcomes["api"].detail
    assert outcomes["web"].state == "part_way"
    assert outcomes["web"].detail == (
        "stopped part-way (done: drain); its traffic is stopped: restore it, or roll it back again"
    )
    assert site.live_version("web") == "1.1.0", "web was not redeployed over a failed api"
    assert site.lock_holder("api") is None
    assert site.lock_holder("web") is None


def test_all_leaves_a_service_with_nothing_to_roll_back_and_says_so(site: Site) -> None:
    runtime = site.runtime()
    with runtime.store.session() as session:  # web 1.1.0 baked: it is its last known good
        releases.mark(releases.find(session, "production", "web", "1.1.0"), ReleaseStatus.GOOD)

    done = site.backout("rollback", "--all", "--yes", "--json")

    assert done.returncode == ExitCode.OK, done.stderr
    report = {s["service"]: s for s in json.loads(done.stdout)["services"]}
    assert report["api"]["state"] == "rolled_back"
    assert report["web"]["state"] == "untouched"
    assert report["web"]["detail"] == "1.1.0 is live and good: nothing to roll back"
    assert site.live_version("web") == "1.1.0"


def test_two_runs_over_the_same_services_asked_at_once_never_wait_on_each_other(
    site: Site,
) -> None:
    site.configure(hold_until="deploy-may-end")  # api's deploy runs till the file exists
    first = site.start("rollback", "api", "web", "--yes")
    second = site.start("rollback", "web", "api", "--yes")
    assert wait_until(lambda: first.poll() is not None or second.poll() is not None, 60)
    (site.root / "deploy-may-end").touch()  # only once the loser has given up
    outputs = [process.communicate(timeout=60) for process in (first, second)]

    codes = sorted([first.returncode, second.returncode])
    assert codes == [ExitCode.OK, ExitCode.LOCKED], outputs
    [run] = site.runs()
    assert run.state == "succeeded"


def _steps_of(site: Site, run_id: int) -> list[dict[str, object]]:
    done = site.backout("run", "show", str(run_id), "--json")
    steps: list[dict[str, object]] = json.loads(done.stdout)["steps"]
    return steps
