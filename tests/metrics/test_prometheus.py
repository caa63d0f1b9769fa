"""The Prometheus metric source: templated PromQL, checked when the config is read; a window
that follows `since`; and a source that cannot be read says why instead of raising."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backout.config import PluginSpec
from backout.errors import ConfigError
from backout.metrics import METRIC_SOURCES, MetricsSnapshot
from backout.metrics.prometheus import PrometheusSource
from backout.registry import PluginContext
from tests.prometheus_support import free_port, running_prometheus, scraped, wait_for

WHERE = ("services", "api", "metrics")
REQUESTS = 'http_requests_total{job="$service",version="$version"}'
ERROR_RATE = (
    f'(sum(rate(http_requests_total{{job="$service",version="$version",status=~"5.."}}[$window]))'
    f" or vector(0)) / sum(rate({REQUESTS}[$window]))"
)


def settings(url: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "url": url,
        "scrape_interval": "1s",
        "window": "30s",
        "timeout": "5s",  # a loaded machine's Prometheus; the silent server's tests set 300ms
        "queries": {
            "error_rate": {"query": ERROR_RATE, "unit": "fraction"},
            "request_rate": {"query": f"sum(rate({REQUESTS}[$window]))", "unit": "per_second"},
        },
        "samples": f"sum(increase({REQUESTS}[$window]))",
        "sample_noun": "requests",
    }
    return base | changes


def build(values: dict[str, Any], tmp_path: Path, environment: str = "staging") -> PrometheusSource:
    context = PluginContext(
        "api", tmp_path / "backout.yaml", tmp_path, tmp_path, environment=environment
    )
    source = METRIC_SOURCES.build(PluginSpec(type="prometheus", **values), WHERE, context)
    assert isinstance(source, PrometheusSource)
    return source


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[PrometheusSource]]:
    """Sources a test built and started, closed after it."""
    sources: list[PrometheusSource] = []
    yield sources
    for source in sources:
        source.close()


def start(source: PrometheusSource, started: list[PrometheusSource]) -> PrometheusSource:
    source.start()
    started.append(source)
    return source


def refused(values: dict[str, Any], tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        build(values, tmp_path)
    return raised.value.problems


# --- the config ----------------------------------------------------------------------------------


def test_queries_are_filled_with_the_service_version_environment_and_window(
    tmp_path: Path,
) -> None:
    source = build(
        settings(
            "http://prometheus:9090",
            queries={
                "up": {"query": 'up{env="$environment",svc="${service}"}[$window]', "unit": "count"}
            },
            samples='sum(x{version="$version"}) + $$0',
        ),
        tmp_path,
    )

    assert source.queries(4.0, '1.1.0"} or vector(1) #') == {
        "up": 'up{env="staging",svc="api"}[4s]',
        "$samples": 'sum(x{version="1.1.0\\"} or vector(1) #"}) + $0',
    }
    assert source.queries(1.5, "1.0.0")["up"].endswith("[1500ms]")


def test_an_unknown_variable_is_refused_naming_the_query_it_is_in(tmp_path: Path) -> None:
    problems = refused(
        settings(
            "http://prometheus:9090",
            queries={
                "error_rate": {"query": 'rate(x{release="$release"}[5m])', "unit": "fraction"}
            },
            samples="sum(x) + $cost",
        ),
        tmp_path,
    )

    known = "(known: $service, $version, $environment, $window)"
    assert problems == [
        f"services.api.metrics.queries.error_rate.query: unknown variable $release {known}",
        f"services.api.metrics.samples: unknown variable $cost {known}",
    ]


def test_a_dollar_that_starts_no_variable_is_refused(tmp_path: Path) -> None:
    problems = refused(
        settings("http://p:9090", queries={"x": {"query": 'up{a=~"b$"}', "unit": "count"}}),
        tmp_path,
    )

    assert problems == [
        "services.api.metrics.queries.x.query: a '$' that starts no variable name: write '$$' "
        "for a literal '$'"
    ]


def test_a_unit_is_one_of_the_four(tmp_path: Path) -> None:
    problems = refused(
        settings("http://p:9090", queries={"x": {"query": "up", "unit": "percent"}}), tmp_path
    )

    assert len(problems) == 1
    assert problems[0].startswith("services.api.metrics.queries.x.unit: Input should be ")
    assert "'fraction', 'seconds', 'per_second' or 'count'" in problems[0]


@pytest.mark.parametrize(
    "url",
    ["prometheus:9090", "ftp://admin:hunter2-secret@p:9090", "http://", "http://p:9090/?x=1"],
)
def test_a_url_that_is_not_a_prometheus_base_url_is_refused_without_showing_it(
    url: str, tmp_path: Path
) -> None:
    problems = refused(settings(url), tmp_path)

    assert len(problems) == 1
    assert problems[0].startswith("services.api.metrics.url: expected ")
    assert "hunter2" not in problems[0]


def test_a_window_of_fewer_than_four_scrapes_is_refused(tmp_path: Path) -> None:
    problems = refused(settings("http://p:9090", scrape_interval="15s", window="30s"), tmp_path)

    assert problems == [
        "services.api.metrics: window 30s is shorter than 4 scrape intervals (1m): rate() would "
        "see too few samples"
    ]


def test_no_queries_is_refused(tmp_path: Path) -> None:
    problems = refused(settings("http://p:9090", queries={}), tmp_path)

    assert problems == [
        "services.api.metrics.queries: Dictionary should have at least 1 item after validation, not 0"
    ]


# --- the window ----------------------------------------------------------------------------------


def test_the_window_is_shortened_to_since_but_never_below_four_scrapes(tmp_path: Path) -> None:
    source = build(settings("http://p:9090", window="1m"), tmp_path)
    now = 1_000_000.0

    assert source.window_for(None, now) == 60.0
    assert source.window_for(now - 600, now) == 60.0
    assert source.window_for(now - 10, now) == 10.0
    assert source.window_for(now - 1, now) == 4.0  # four 1s scrapes: rate() has two samples


# --- a source that cannot be read ----------------------------------------------------------------


def test_an_unreachable_prometheus_is_a_problem_that_shows_no_password(
    tmp_path: Path, started: list[PrometheusSource]
) -> None:
    url = f"http://admin:hunter2-secret@127.0.0.1:{free_port()}"
    source = start(build(settings(url), tmp_path), started)

    snapshot = source.snapshot(version="1.0.0")

    assert snapshot.samples == 0
    assert snapshot.value("error_rate") is None
    assert snapshot.problem is not None
    assert "is not reachable" in snapshot.problem
    assert "Prometheus at http://admin:***@127.0.0.1" in snapshot.problem
    assert "hunter2" not in snapshot.summary()
    assert snapshot.summary().startswith("cannot read the source: the query of error_rate: ")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_a_prometheus_that_does_not_answer_in_time_is_a_problem_within_the_timeout(
    silent_server: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    source = start(build(settings(silent_server, timeout="300ms"), tmp_path), started)

    began = time.monotonic()
    snapshot = source.snapshot(version="1.0.0")

    assert time.monotonic() - began < 2.0  # 300ms, the queries in parallel
    assert snapshot.problem is not None
    assert snapshot.problem.endswith("did not answer within 300ms")
    assert snapshot.samples == 0


def test_a_source_closed_during_a_snapshot_answers_with_a_problem(
    silent_server: str, tmp_path: Path
) -> None:
    source = build(settings(silent_server, timeout="300ms"), tmp_path)
    source.start()
    taken: list[MetricsSnapshot | BaseException] = []

    def take() -> None:
        try:
            taken.append(source.snapshot(version="1.0.0"))
        except BaseException as error:
            taken.append(error)

    thread = threading.Thread(target=take)
    thread.start()
    source.close()
    thread.join(timeout=5)

    [snapshot] = taken
    assert isinstance(snapshot, MetricsSnapshot)
    assert snapshot.problem is not None
    assert snapshot.samples == 0
    assert source.snapshot(version="1.0.0").problem == "the Prometheus source is not started"


def test_a_server_that_is_not_prometheus_is_a_problem(
    url: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    source = start(build(settings(url), tmp_path), started)

    problem = source.snapshot(version="1.0.0").problem

    assert problem is not None
    assert problem.endswith("answered HTTP 200 without the query API's JSON")


def test_a_source_not_started_reads_nothing(tmp_path: Path) -> None:
    snapshot = build(settings("http://127.0.0.1:1"), tmp_path).snapshot(version="1.0.0")

    assert snapshot.problem == "the Prometheus source is not started"


def test_queries_that_select_by_version_need_the_live_version(
    scraped_prometheus: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    source = start(build(settings(scraped_prometheus), tmp_path), started)

    snapshot = source.snapshot()

    assert snapshot.problem == "the live version is unknown and the queries need it"
    assert snapshot.samples == 0


# --- a live Prometheus ---------------------------------------------------------------------------


def test_the_live_release_is_measured_by_its_version_label(
    scraped_prometheus: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    source = start(build(settings(scraped_prometheus), tmp_path, environment="e"), started)

    live = source.snapshot(version="1.0.0")
    recent = source.snapshot(since=time.time() - 5, version="1.0.0")
    other = source.snapshot(version="9.9.9")

    assert live.problem is None, live.problem
    assert live.value("error_rate") == 0.0  # no 5xx series at all: `or vector(0)`
    rate = live.value("request_rate")
    assert rate is not None
    assert rate > 0
    assert live.samples > 3
    assert live.summary().endswith(f"{live.samples} requests")
    assert live.measured_by["request_rate"] == (
        'PromQL: sum(rate(http_requests_total{job="api",version="1.0.0"}[30s]))'
    )
    assert 5.0 <= recent.window_s < 6.0
    assert recent.measured_by["request_rate"].endswith("ms]))")
    assert other.problem is not None
    assert other.problem.startswith("no data: every query is empty over the last 30s")
    assert other.value("request_rate") is None


def test_one_empty_query_is_that_metric_unmeasured(
    scraped_prometheus: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    queries = {
        "request_rate": {"query": f"sum(rate({REQUESTS}[$window]))", "unit": "per_second"},
        "errors_without_fallback": {
            "query": 'sum(rate(http_requests_total{job="$service",status=~"5.."}[$window]))',
            "unit": "per_second",
        },
    }
    source = start(build(settings(scraped_prometheus, queries=queries), tmp_path), started)

    snapshot = source.snapshot(version="1.0.0")

    assert snapshot.problem is None
    assert snapshot.value("errors_without_fallback") is None
    assert snapshot.value("request_rate") is not None


def test_a_query_prometheus_refuses_is_a_problem(
    scraped_prometheus: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    queries = {"broken": {"query": "sum(rate(http_requests_total[$window]", "unit": "count"}}
    source = start(build(settings(scraped_prometheus, queries=queries), tmp_path), started)

    problem = source.snapshot(version="1.0.0").problem

    assert problem is not None
    assert problem.startswith(f"the query of broken: Prometheus at {scraped_prometheus} ")
    assert "refused the query (bad_data: " in problem


def test_a_query_of_several_series_is_a_problem(
    scraped_prometheus: str, tmp_path: Path, started: list[PrometheusSource]
) -> None:
    queries = {"per_route": {"query": 'http_requests_total{job="$service"}', "unit": "count"}}
    values = settings(scraped_prometheus, queries=queries, samples=None)
    source = start(build(values, tmp_path), started)

    problem = source.snapshot().problem

    assert problem is not None
    assert "series, not one: aggregate them" in problem


def test_a_prometheus_killed_mid_watch_turns_readings_into_problems(
    tmp_path: Path, started: list[PrometheusSource]
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # a target that is down still has its `up` series
    with running_prometheus(tmp_path / "p", {"api": [nobody]}) as prometheus:
        values = settings(
            prometheus.url,
            queries={"targets": {"query": 'count(up{job="$service"})', "unit": "count"}},
            samples=None,
        )
        source = start(build(values, tmp_path), started)
        wait_for(lambda: scraped(prometheus, 'up{job="api"}'), "Prometheus scraped once")

        before = source.snapshot()
        assert before.problem is None
        assert (before.value("targets"), before.samples) == (1.0, 1)  # samples: queries answered

        assert prometheus.server.process is not None
        prometheus.server.process.kill()
        prometheus.server.process.wait(timeout=10)
        after = source.snapshot()

    assert after.samples == 0
    assert after.problem is not None
    assert "is not reachable" in after.problem
