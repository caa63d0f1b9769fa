"""Every metric source passes the same suite: it says what it provides with a unit each, builds
without side effects, measures once started, and its snapshots carry only what it provides.

The probe runs against a real HTTP server on loopback; the business flow against the demo app
(release 1.0.0, a real uvicorn process on loopback); the sql source against a real SQLite
file and a real PostgreSQL database; the Prometheus source reads a real Prometheus scraping the
demo app under traffic; the fake is given its values.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from backout.config import PluginSpec
from backout.demo import GOOD_VERSION, booking_flow, create_demo_repo
from backout.errors import ConfigError
from backout.metrics import METRIC_SOURCES, MetricSource, Unit
from backout.registry import PluginContext
from tests.demo.demo_support import launch, stop, wait_until_answering

WHERE = ("services", "api", "metrics")

# Two rows of members, for the sql source's checks.
MEMBERS_TABLE = (
    "CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT NOT NULL, joined_at TEXT NOT NULL)",
    "INSERT INTO members VALUES (1, 'a@club', '2026-01-01 10:00:00'), "
    "(2, 'b@club', '2026-01-02 10:00:00')",
)
SQL_CHECKS = [
    {"name": "members", "count": "SELECT count(*) FROM members"},
    {"name": "no_email", "invariant": "SELECT count(*) FROM members WHERE email = ''"},
    {"name": "joins", "freshness": "SELECT max(joined_at) FROM members"},
]


@dataclass
class Live:
    """The real things a case's source reads, made on demand (PostgreSQL only when asked)."""

    http_url: str
    tmp_path: Path
    request: pytest.FixtureRequest

    def sqlite_url(self) -> str:
        path = self.tmp_path / "club.db"
        with sqlite3.connect(path) as db:
            for statement in MEMBERS_TABLE:
                db.execute(statement)
        return f"sqlite:///{path}"

    def demo_url(self) -> str:
        return str(self.request.getfixturevalue("demo_url"))

    def prometheus_url(self) -> str:
        return str(self.request.getfixturevalue("scraped_prometheus"))

    def postgres_url(self) -> str:
        url = str(self.request.getfixturevalue("postgres_url"))
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as db:
            for statement in MEMBERS_TABLE:
                db.execute(statement)
        return url


def _sql(url: str) -> dict[str, Any]:
    return {"url": url, "interval": "100ms", "window": "10s", "checks": SQL_CHECKS}


def _prometheus(url: str) -> dict[str, Any]:
    """Queries of the demo app's own metrics, as docs/metrics.md writes them."""
    requests = 'http_requests_total{job="$service"}'
    return {
        "url": url,
        "scrape_interval": "1s",
        "window": "10s",
        "queries": {
            "error_rate": {
                "query": '(sum(rate(http_requests_total{job="$service",status=~"5.."}[$window]))'
                f" or vector(0)) / sum(rate({requests}[$window]))",
                "unit": "fraction",
            },
            "latency_p95": {
                "query": "histogram_quantile(0.95, sum by (le) "
                '(rate(http_request_duration_seconds_bucket{job="$service"}[$window])))',
                "unit": "seconds",
            },
            "request_rate": {"query": f"sum(rate({requests}[$window]))", "unit": "per_second"},
            "requests_seen": {"query": f"sum({requests})", "unit": "count"},
        },
        "samples": f"sum(increase({requests}[$window]))",
        "sample_noun": "requests",
    }


# Each case: the registered source type, and its settings given the live things to read.
CASES: dict[str, tuple[str, Callable[[Live], dict[str, Any]]]] = {
    "probe": ("probe", lambda live: {"url": live.http_url, "interval": "10ms", "window": "10s"}),
    "fake": ("fake", lambda live: {"values": {"error_rate": 0.25}}),
    "flow": ("flow", lambda live: booking_flow(live.demo_url(), interval="100ms", window="10s")),
    "sql-sqlite": ("sql", lambda live: _sql(live.sqlite_url())),
    "sql-postgresql": ("sql", lambda live: _sql(live.postgres_url())),
    "prometheus": ("prometheus", lambda live: _prometheus(live.prometheus_url())),
}

SUFFIX = {Unit.FRACTION: "%", Unit.SECONDS: "s", Unit.PER_SECOND: "/s", Unit.COUNT: ""}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo app's good release, started from a checkout of its tag."""
    repo = create_demo_repo(tmp_path_factory.mktemp("demo") / "badminton")
    checkout = tmp_path_factory.mktemp("checkout") / GOOD_VERSION
    subprocess.run(
        ["git", "worktree", "add", "--quiet", "--detach", str(checkout), repo.tags[GOOD_VERSION]],
        cwd=repo.path,
        check=True,
        capture_output=True,
    )
    app = launch(checkout, tmp_path_factory.mktemp("run"), {})
    try:
        wait_until_answering(app)
        yield app.url
    finally:
        stop(app.process)


def _context(tmp_path: Path) -> PluginContext:
    return PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")


def build(kind: str, settings: dict[str, Any], tmp_path: Path) -> MetricSource:
    settings = {key: value for key, value in settings.items() if key != "type"}
    return METRIC_SOURCES.build(PluginSpec(type=kind, **settings), WHERE, _context(tmp_path))


@pytest.fixture
def live(url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Live:
    return Live(url, tmp_path, request)


@pytest.fixture(params=sorted(CASES))
def source(request: pytest.FixtureRequest, live: Live, tmp_path: Path) -> Iterator[MetricSource]:
    kind, settings = CASES[request.param]
    built = build(kind, settings(live), tmp_path)
    yield built
    built.close()


def _sampled(source: MetricSource) -> None:
    source.start()
    deadline = time.monotonic() + 10
    while source.snapshot().samples < 3:
        assert time.monotonic() < deadline, "the source took no samples"
        time.sleep(0.01)


def test_every_registered_source_is_in_this_suite() -> None:
    assert sorted({kind for kind, _ in CASES.values()}) == METRIC_SOURCES.names()


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


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unknown_setting_is_refused_with_its_key_path(
    case: str, live: Live, tmp_path: Path
) -> None:
    kind, settings = CASES[case]
    with pytest.raises(ConfigError) as raised:
        build(kind, {**settings(live), "colour": "blue"}, tmp_path)

    assert any(p.startswith("services.api.metrics.colour") for p in raised.value.problems)


def test_an_unknown_source_type_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        build("datadog", {}, tmp_path)

    assert raised.value.problems == [
        "services.api.metrics.type: unknown metric source 'datadog' "
        "(available: fake, flow, probe, prometheus, sql)"
    ]
