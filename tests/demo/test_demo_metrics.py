"""The demo app exports Prometheus metrics of its own requests on GET /metrics, labelled with
its release's version and the route template (never the raw path)."""

from __future__ import annotations

from collections.abc import Callable

from demo_support import RunningApp
from prometheus_client.parser import text_string_to_metric_families

from backout.demo import PROBE_PATH


def samples(app: RunningApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    with app.client() as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def requests(
    method: str, route: str, status: str, version: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"method": method, "route": route, "status": status, "version": version}
    return "http_requests_total", tuple(sorted(labels.items()))


def test_requests_are_counted_by_route_template_status_and_version(good_app: RunningApp) -> None:
    before = samples(good_app)
    with good_app.client() as client:
        for _ in range(3):
            client.get(PROBE_PATH)
        client.get("/no/such/page/42")
        client.get("/metrics")  # a scrape is not a request of the app's
    after = samples(good_app)

    def added(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert added(requests("GET", PROBE_PATH, "200", "1.0.0")) == 3
    assert added(requests("GET", "unmatched", "404", "1.0.0")) == 1
    assert not [k for k in after if "/metrics" in dict(k[1]).get("route", "")]
    assert not [k for k in after if "/no/such" in dict(k[1]).get("route", "")]
    count = ("http_request_duration_seconds_count", (("route", PROBE_PATH), ("version", "1.0.0")))
    assert added(count) == 3


def test_the_bad_release_counts_its_failures_under_its_own_version(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.1.0", BADMINTON_FAULT_RATE="1", BADMINTON_EXTRA_LATENCY_MS="0")
    with app.client() as client:
        for _ in range(4):
            client.get(PROBE_PATH)

    assert samples(app)[requests("GET", PROBE_PATH, "500", "1.1.0")] == 4
