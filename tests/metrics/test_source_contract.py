"""Every metric source passes the same suite: it says what it provides with a unit each, builds
without side effects, measures once started, and its snapshots carry only what it provides.

The probe runs against a real HTTP server on loopback; the fake is given its values; the
Prometheus source reads a real Prometheus scraping the demo app under traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backout.config import PluginSpec
from backout.errors import ConfigError
from backout.metrics import METRIC_SOURCES, MetricSource, Unit
from backout.registry import PluginContext

WHERE = ("services", "api", "metrics")

# The settings each registered source is tested with, given the URL of a live server: the
# fixture named in LIVE_SERVER, a plain HTTP server when none is named.
SETTINGS: dict[str, Callable[[str], dict[str, Any]]] = {
    "probe": lambda url: {"url": url, "interval": "10ms", "window": "10s"},
    "fake": lambda url: {"values": {"error_rate": 0.25}},
    "prometheus": lambda url: {
        "url": url,
        "scrape_interval": "1s",
        "window": "10s",
        "queries": {
            "error_rate": {
                "query": '(sum(rate(http_requests_total{job="$service",status=~"5.."}[$window]))'
                ' or vector(0)) / sum(rate(http_requests_total{job="$service"}[$window]))',
                "unit": "fraction",
            },
            "latency_p95": {
                "query": "histogram_quantile(0.95, sum by (le) "
                '(rate(http_request_duration_seconds_bucket{job="$service"}[$window])))',
                "unit": "seconds",
            },
            "request_rate": {
                "query": 'sum(rate(http_requests_total{job="$service"}[$window]))',
                "unit": "per_second",
            },
            "requests_seen": {"query": 'sum(http_requests_total{job="$service"})', "unit": "count"},
        },
        "samples": 'sum(increase(http_requests_total{job="$service"}[$window]))',
        "sample_noun": "requests",
    },
}
LIVE_SERVER = {"prometheus": "scraped_prometheus"}

SUFFIX = {Unit.FRACTION: "%", Unit.SECONDS: "s", Unit.PER_SECOND: "/s", Unit.COUNT: ""}


def _context(tmp_path: Path) -> PluginContext:
    return PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")


def build(kind: str, settings: dict[str, Any], tmp_path: Path) -> MetricSource:
    return METRIC_SOURCES.build(PluginSpec(type=kind, **settings), WHERE, _context(tmp_path))


@pytest.fixture(params=sorted(SETTINGS))
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricSource]:
    live_url = request.getfixturevalue(LIVE_SERVER.get(request.param, "url"))
    built = build(request.param, SETTINGS[request.param](live_url), tmp_path)
    yield built
    built.close()


def _sampled(source: MetricSource) -> None:
    source.start()
    deadline = time.monotonic() + 10
    while source.snapshot().samples < 3:
        assert time.monotonic() < deadline, "the source took no samples"
        time.sleep(0.01)


def test_every_registered_source_is_in_this_suite() -> None:
    assert sorted(SETTINGS) == METRIC_SOURCES.names()


def test_a_source_provides_named_metrics_each_with_a_unit(source: MetricSource) -> None:
    catalogue = source.provides
    assert catalogue.names()
    for name, info in catalogue.metrics.items():
        assert isinstance(info.unit, Unit), name
        assert info.label


def test_a_started_source_snapshots_only_what_it_provides(source: MetricSource) -> None:
    _sampled(source)
    snapshot = source.snapshot()

    assert set(snapshot.values) <= set(source.provides.metrics)
    assert snapshot.samples >= 3
    assert snapshot.window_s > 0
    assert snapshot.summary().endswith(f"{snapshot.samples} {source.provides.sample_noun}")


def test_each_value_reads_in_a_sentence_by_its_unit(source: MetricSource) -> None:
    _sampled(source)
    snapshot = source.snapshot()

    for name, value in snapshot.values.items():
        if value is None:
            continue
        unit = source.provides.metrics[name].unit
        shown = snapshot.catalogue.show(name, value)
        assert shown.endswith(SUFFIX[unit]), (name, shown)
        assert shown[0].isdigit(), (name, shown)


def test_start_and_close_may_be_repeated(source: MetricSource) -> None:
    source.start()
    source.start()
    source.close()
    source.close()


def test_snapshots_may_be_taken_from_several_threads(source: MetricSource) -> None:
    _sampled(source)
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                source.snapshot(since=time.time() - 1)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_an_unknown_setting_is_refused_with_its_key_path(
    kind: str, url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        build(kind, {**SETTINGS[kind](url), "colour": "blue"}, tmp_path)

    assert any(p.startswith("services.api.metrics.colour") for p in raised.value.problems)


def test_an_unknown_source_type_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        build("datadog", {}, tmp_path)

    assert raised.value.problems == [
        "services.api.metrics.type: unknown metric source 'datadog' "
        "(available: fake, probe, prometheus)"
    ]
