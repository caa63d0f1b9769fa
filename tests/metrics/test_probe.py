"""The synthetic probe against a real HTTP server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backout.config import ProbeSettings
from backout.metrics.probe import Probe, Sample, summarise


class _Server(ThreadingHTTPServer):
    fail_every = 0
    served = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.served += 1
        failing = self.server.fail_every and self.server.served % self.server.fail_every == 0
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _probe(url: str) -> Probe:
    return Probe(ProbeSettings.model_validate({"url": url, "interval": "10ms", "window": "10s"}))


def _wait_for_samples(probe: Probe, count: int) -> None:
    deadline = time.monotonic() + 10
    while probe.snapshot().samples < count:
        assert time.monotonic() < deadline, "the probe sent too few requests"
        time.sleep(0.01)


def test_the_probe_measures_the_error_rate_of_a_real_server(server: _Server) -> None:
    server.fail_every = 4
    probe = _probe(f"http://127.0.0.1:{server.server_address[1]}/api/sessions?token=s3cr3t")
    probe.start()
    try:
        _wait_for_samples(probe, 40)
        snapshot = probe.snapshot()
    finally:
        probe.close()
    assert 0.15 <= snapshot.values["error_rate"] <= 0.35
    assert snapshot.values["latency_p95"] is not None
    assert snapshot.values["latency_p95"] < 1.0
    assert snapshot.values["request_rate"] > 0
    url = f"http://127.0.0.1:{server.server_address[1]}/api/sessions?token=***"
    assert snapshot.measured_by["error_rate"] == f"GET {url}", "the request, its token masked"


def test_a_server_that_is_down_counts_as_errors() -> None:
    probe = _probe("http://127.0.0.1:9/")  # the discard port: nothing listens there
    probe.start()
    try:
        _wait_for_samples(probe, 5)
        snapshot = probe.snapshot()
    finally:
        probe.close()
    assert snapshot.values["error_rate"] == 1.0
    assert snapshot.values["latency_p95"] is None


def test_since_leaves_out_what_happened_before(server: _Server) -> None:
    """What a bad release did before a rollback must not count against its replacement."""
    server.fail_every = 1  # every request fails ...
    probe = _probe(f"http://127.0.0.1:{server.server_address[1]}/")
    probe.start()
    try:
        _wait_for_samples(probe, 5)
        server.fail_every = 0  # ... until the "rollback"
        switched = time.time()
        deadline = time.monotonic() + 10
        while probe.snapshot(since=switched).samples < 5:
            assert time.monotonic() < deadline, "the probe sent too few requests"
            time.sleep(0.01)
        assert probe.snapshot().values["error_rate"] > 0
        assert probe.snapshot(since=switched).values["error_rate"] == 0.0
    finally:
        probe.close()


def test_no_samples_is_no_evidence_of_health() -> None:
    assert summarise([], 10).value("error_rate") is None
    samples = [Sample(at=100.0 + i, ok=i >= 5, latency_s=0.01) for i in range(10)]
    assert summarise(samples, 10).values["error_rate"] == 0.5


def test_rates_count_only_the_time_the_probe_ran(server: _Server) -> None:
    """A probe started just now measured nothing before: its rate is not diluted by that time."""
    probe = _probe(f"http://127.0.0.1:{server.server_address[1]}/")
    before_start = time.time()
    probe.start()
    try:
        _wait_for_samples(probe, 5)
        snapshot = probe.snapshot(since=before_start - 3600)
        ran_for = time.time() - before_start
    finally:
        probe.close()
    assert snapshot.window_s <= ran_for
    assert snapshot.values["request_rate"] >= snapshot.samples / ran_for
