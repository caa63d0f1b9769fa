"""A broken business flow, end to end: the demo's good release bakes under its booking flow, a
release whose booking fails (its /health and sessions listing green) is deployed with git-build,
the trigger on flow_failure_rate fires through the watch loop, and backout rolls it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backout import releases
from backout.demo import (
    BOOKING_FAULT_RATE_ENV,
    EXTRA_LATENCY_ENV,
    FAULT_RATE_ENV,
    PROBE_PATH,
    booking_flow,
)
from backout.quickstart.scenario import ship_good_then_bad, watch_until
from backout.quickstart.workspace import SERVICE, Workspace, create_workspace
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime

pytestmark = pytest.mark.slow

ROLLBACK_DEADLINE_S = 90.0


def _watch_the_booking_flow(workspace: Workspace) -> None:
    """The quickstart's config, with the booking flow for metrics instead of the probe, and
    a bad release that breaks booking alone."""
    config: dict[str, Any] = yaml.safe_load(workspace.config_file.read_text())
    service = config["services"][SERVICE]
    base_url = f"http://127.0.0.1:{workspace.port}"
    del service["probe"]
    service["metrics"] = booking_flow(base_url, interval="100ms", window="3s", timeout="2s")
    service["triggers"] = [
        {"name": "booking-flow", "metric": "flow_failure_rate", "above": 0.5, "for": "1s"}
    ]
    service["driver"]["env"].update(
        {FAULT_RATE_ENV: "0", EXTRA_LATENCY_ENV: "0", BOOKING_FAULT_RATE_ENV: "1"}
    )
    workspace.config_file.write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_release_that_breaks_booking_is_caught_by_the_flow_and_rolled_back(
    tmp_path: Path,
) -> None:
    workspace = create_workspace(tmp_path / "ws")
    _watch_the_booking_flow(workspace)
    runtime = Runtime.open(workspace.config_file)
    try:
        watcher, decisions = ship_good_then_bad(
            runtime, workspace, lambda _: None, None, bad_is=", which breaks booking"
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{workspace.port}") as client:
            sessions_of_the_bad_release = client.get(PROBE_PATH).status_code

        watch_until(watcher, lambda: bool(watcher.results), ROLLBACK_DEADLINE_S)
        [result] = watcher.wait_for_runs()

        with runtime.store.session() as session:
            status = releases.find(session, runtime.environment, SERVICE, "1.1.0").status
    finally:
        runtime.driver(SERVICE).stop()
        runtime.close()

    assert sessions_of_the_bad_release == 200  # the probe's endpoint saw nothing wrong
    assert result.state is RunState.SUCCEEDED, result.message
    assert status == ReleaseStatus.ROLLED_BACK
    [fired] = [d for d in decisions if "rolling back" in d]
    assert fired.startswith("backend 1.1.0: flow failure rate 100.0% > 50.0%"), fired
