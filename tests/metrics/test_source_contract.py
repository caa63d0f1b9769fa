"""Every metric source passes the same suite: it says what it provides with a unit each, builds
without side effects, measures once started, and its snapshots carry only what it provides.

The probe runs against a real HTTP server on loopback, the business flow against the demo app
(release 1.0.0, a real uvicorn process on loopback); the fake is given its values.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backout.config import PluginSpec
from backout.demo import GOOD_VERSION, booking_flow, create_demo_repo
from backout.errors import ConfigError
from backout.metrics import METRIC_SOURCES, MetricSource, Unit
from backout.registry import PluginContext
from tests.demo.demo_support import launch, stop, wait_until_answering

WHERE = ("services", "api", "metrics")

# The settings each registered source is tested with, given the URL of a live server (of the
# demo app for the sources in DEMO_APP).
SETTINGS: dict[str, Callable[[str], dict[str, Any]]] = {
    "probe": lambda url: {"url": url, "interval": "10ms", "window": "10s"},
    "flow": lambda url: booking_flow(url, interval="100ms", window="10s"),
    "fake": lambda url: {"values": {"error_rate": 0.25}},
}

SUFFIX = {Unit.FRACTION: "%", Unit.SECONDS: "s", Unit.PER_SECOND: "/s", Unit.COUNT: ""}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


DEMO_APP = {"flow"}


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


def _server_for(kind: str, request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("demo_url" if kind in DEMO_APP else "url")
    return url


def _context(tmp_path: Path) -> PluginContext:
    return PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")


def build(kind: str, settings: dict[str, Any], tmp_path: Path) -> MetricSource:
    settings = {key: value for key, value in settings.items() if key != "type"}
    return METRIC_SOURCES.build(PluginSpec(type=kind, **settings), WHERE, _context(tmp_path))


@pytest.fixture(params=sorted(SETTINGS))
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricSource]:
    kind = request.param
    built = build(kind, SETTINGS[kind](_server_for(kind, request)), tmp_path)
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
def test_an_unknown_setting_is_refused_with_its_key_path(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        build(kind, {**SETTINGS[kind]("http://127.0.0.1:9"), "colour": "blue"}, tmp_path)

    assert any(p.startswith("services.api.metrics.colour") for p in raised.value.problems)


def test_an_unknown_source_type_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        build("prometheus", {}, tmp_path)

    assert raised.value.problems == [
        "services.api.metrics.type: unknown metric source 'prometheus' (available: fake, flow, probe)"
    ]
