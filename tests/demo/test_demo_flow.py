"""The demo's booking flow (sign in, book, read back, cancel) as a metric source, against real
releases of the demo app: it passes run after run on the good one, and catches a release that
breaks booking alone, which the probe and /health do not see."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo_support import RunningApp

from backout.config import PluginSpec, ProbeSettings
from backout.demo import (
    BOOKING_FAULT_RATE_ENV,
    BOOKINGS_PATH,
    EXTRA_LATENCY_ENV,
    FAULT_RATE_ENV,
    HEALTH_PATH,
    PROBE_PATH,
    SIGN_IN_PATH,
    booking_flow,
)
from backout.demo.flow import FLOW_MEMBER, FLOW_SESSION
from backout.metrics import METRIC_SOURCES, MetricSource, MetricsSnapshot
from backout.metrics.probe import Probe
from backout.registry import PluginContext


def _flow(app: RunningApp, tmp_path: Path) -> MetricSource:
    settings: dict[str, Any] = booking_flow(app.url, interval="100ms", window="30s")
    del settings["type"]
    context = PluginContext("backend", tmp_path / "backout.yaml", tmp_path, tmp_path)
    return METRIC_SOURCES.build(
        PluginSpec(type="flow", **settings), ("services", "backend", "metrics"), context
    )


def _after_runs(source: MetricSource, runs: int) -> MetricsSnapshot:
    source.start()
    try:
        deadline = time.monotonic() + 20
        while source.snapshot().samples < runs:
            assert time.monotonic() < deadline, "the flow did not run"
            time.sleep(0.05)
        return source.snapshot()
    finally:
        source.close()


def test_the_booking_flow_passes_run_after_run_on_the_good_release(
    start_app: Callable[..., RunningApp], tmp_path: Path
) -> None:
    app = start_app("1.0.0")

    snapshot = _after_runs(_flow(app, tmp_path), 6)

    # Six bookings of one session by one member: each run's cancel freed the spot it took.
    assert snapshot.value("flow_failure_rate") == 0.0, snapshot.measured_by
    assert snapshot.value("flow_duration_p95") is not None
    assert snapshot.measured_by["flow_failure_rate"].startswith(
        "flow 'signin → release → book → read → cancel': 0 of "
    )


def test_a_spot_left_by_an_interrupted_run_is_given_back_not_a_failure_forever(
    start_app: Callable[..., RunningApp], tmp_path: Path
) -> None:
    app = start_app("1.0.0")
    with app.client() as client:  # a run cut off after its booking: the spot stays taken
        token = client.post(SIGN_IN_PATH, json={"email": FLOW_MEMBER}).json()["token"]
        left = client.post(
            BOOKINGS_PATH,
            json={"session_id": FLOW_SESSION},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert left.status_code == 201

    snapshot = _after_runs(_flow(app, tmp_path), 3)

    assert snapshot.value("flow_failure_rate") == 0.0, snapshot.measured_by


def test_a_release_that_breaks_booking_alone_fails_the_flow_not_the_probe(
    start_app: Callable[..., RunningApp], tmp_path: Path
) -> None:
    env = {FAULT_RATE_ENV: "0", EXTRA_LATENCY_ENV: "0", BOOKING_FAULT_RATE_ENV: "1"}
    app = start_app("1.1.0", **env)
    probed_url = app.url + PROBE_PATH
    probe = Probe(ProbeSettings.model_validate({"url": probed_url, "interval": "20ms"}))
    probe.start()
    try:
        flow = _after_runs(_flow(app, tmp_path), 4)
        with app.client() as client:
            health = client.get(HEALTH_PATH).status_code
        probed = probe.snapshot()
    finally:
        probe.close()

    assert flow.value("flow_failure_rate") == 1.0
    assert flow.measured_by["flow_failure_rate"].endswith("step 'book': expected 201, got 500")
    assert health == 200
    assert probed.samples >= 10
    assert probed.value("error_rate") == 0.0
