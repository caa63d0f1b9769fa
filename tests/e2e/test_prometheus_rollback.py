"""The quickstart's story with Prometheus as the metric source: the demo app exports its own
metrics, a real Prometheus scrapes them every second, the watch loop reads them by PromQL.

A bad release (1.1.0, 30 % of the sessions list failing) is detected through Prometheus and
rolled back; with Prometheus stopped, the same bad release is not rolled back: the source
cannot be read, and a reading that cannot be had is no evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from backout.controller.watch import Watcher
from backout.demo import FAULT_RATE_ENV
from backout.operations import views
from backout.operations.deploy import deploy
from backout.quickstart.scenario import (
    require_success,
    ship_good_then_bad,
    status_of,
    watch_until,
)
from backout.quickstart.workspace import ACTOR, SERVICE, Workspace, create_workspace
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from tests.prometheus_support import Prometheus, Traffic, running_prometheus

pytestmark = pytest.mark.slow

REQUESTS = 'http_requests_total{job="$service",version="$version",route="/api/sessions"}'
FAILED = (
    'http_requests_total{job="$service",version="$version",route="/api/sessions",status=~"5.."}'
)
BUCKETS = 'http_request_duration_seconds_bucket{job="$service",version="$version"}'
QUERIES = {
    "error_rate": {
        "query": f"(sum(rate({FAILED}[$window])) or vector(0)) / sum(rate({REQUESTS}[$window]))",
        "unit": "fraction",
    },
    "latency_p95": {
        "query": f"histogram_quantile(0.95, sum by (le) (rate({BUCKETS}[$window])))",
        "unit": "seconds",
    },
    "request_rate": {"query": f"sum(rate({REQUESTS}[$window]))", "unit": "per_second"},
}
WATCH_DEADLINE_S = 120.0
UNREAD_WATCH_S = 6.0


@dataclass
class Story:
    workspace: Workspace
    runtime: Runtime
    prometheus: Prometheus


def watch_with_prometheus(workspace: Workspace, prometheus_url: str) -> None:
    """Swap the workspace's synthetic probe for the Prometheus source; one trigger, on errors."""
    data: dict[str, Any] = yaml.safe_load(workspace.config_file.read_text(encoding="utf-8"))
    service = data["services"][SERVICE]
    del service["probe"]
    service["metrics"] = {
        "type": "prometheus",
        "url": prometheus_url,
        "scrape_interval": "1s",
        "window": "10s",
        "queries": QUERIES,
        "samples": f"sum(increase({REQUESTS}[$window]))",
        "sample_noun": "requests",
    }
    service["triggers"] = [
        {"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"}
    ]
    service["driver"]["env"][FAULT_RATE_ENV] = "0.3"
    workspace.config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    """The demo workspace, watched through a Prometheus that scrapes its app's port, under
    steady traffic (the app comes and goes with each deploy; the scrapes and traffic go on)."""
    workspace = create_workspace(tmp_path / "ws")
    app = f"127.0.0.1:{workspace.port}"
    with (
        running_prometheus(tmp_path / "prometheus", {SERVICE: [app]}) as prometheus,
        Traffic(f"http://{app}"),
    ):
        watch_with_prometheus(workspace, prometheus.url)
        runtime = Runtime.open(workspace.config_file)
        try:
            yield Story(workspace, runtime, prometheus)
        finally:
            runtime.driver(SERVICE).stop()
            runtime.close()


def live_version(runtime: Runtime) -> str | None:
    return runtime.driver(SERVICE).current()


def test_a_bad_release_is_detected_through_prometheus_and_rolled_back(story: Story) -> None:
    runtime, workspace = story.runtime, story.workspace
    watcher, decisions = ship_good_then_bad(runtime, workspace, lambda _: None, None, bad_is="")

    watch_until(watcher, lambda: bool(watcher.results), WATCH_DEADLINE_S)

    [result] = watcher.wait_for_runs()
    assert result.state is RunState.SUCCEEDED, result.message
    fired = [d for d in decisions if "rolling back" in d]
    assert fired, decisions
    assert fired[0].startswith("backend 1.1.0: error rate ")
    assert "> 5.0% for " in fired[0]
    run = views.run_detail(runtime, result.run_id)
    incident = views.incident_detail(runtime, run["incident_id"])
    assert incident["time_to_detect_s"] < 10  # 1s scrapes, 1s `for`: about 3s here
    assert live_version(runtime) == "1.0.0"
    assert status_of(runtime, "1.1.0") == ReleaseStatus.ROLLED_BACK
    # The good release was measured through Prometheus as well: its baseline comes from there.
    baked = "backend 1.0.0: baked 2s with no trigger, marked good (baseline errors 0.0%, p95 "
    assert any(d.startswith(baked) for d in decisions), decisions


def test_prometheus_stopped_mid_watch_is_no_reason_to_roll_back(story: Story) -> None:
    runtime = story.runtime
    require_success(deploy(runtime, SERVICE, "1.0.0", ref="v1.0.0", actor=ACTOR))
    decisions: list[str] = []
    watcher = Watcher(runtime, on_change=decisions.append)
    watch_until(
        watcher, lambda: status_of(runtime, "1.0.0") == ReleaseStatus.GOOD, WATCH_DEADLINE_S
    )

    story.prometheus.stop()
    require_success(deploy(runtime, SERVICE, "1.1.0", ref="v1.1.0", actor=ACTOR))
    # Twice as long as the detection takes with Prometheus up (about 3s: two 1s scrapes and the
    # trigger's 1s `for`): had the errors been read, the trigger would have fired by then.
    end = runtime.clock.monotonic() + UNREAD_WATCH_S
    while runtime.clock.monotonic() < end:
        watcher.run_cycle()
        runtime.clock.sleep(0.1)

    assert watcher.results == []
    assert live_version(runtime) == "1.1.0"
    assert status_of(runtime, "1.1.0") == ReleaseStatus.LIVE  # not rolled back, nor baked good
    last = watcher.last_decisions[SERVICE]
    assert last.startswith("backend 1.1.0: ")
    assert "cannot read the source: the query of error_rate: Prometheus at " in last
    assert "is not reachable" in last
    assert not [d for d in decisions if "rolling back" in d or "incident" in d]
