"""Fixtures of the metric source tests: a plain HTTP server; a real Prometheus scraping a real demo
app under traffic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.prometheus_support import Traffic, demo_app, running_prometheus, scraped, wait_for

JOB = "api"  # the service name of the tests' plug-in contexts: $service in a query


@pytest.fixture(scope="session")
def scraped_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Prometheus that scrapes the demo app 1.0.0 (job "api") every second while
    steady traffic reaches it; it has the first rates by the time the tests get it."""
    folder = tmp_path_factory.mktemp("prometheus-demo")
    with demo_app(folder / "app", "1.0.0") as app_url, Traffic(app_url):
        host = app_url.removeprefix("http://")
        with running_prometheus(folder / "prometheus", {JOB: [host]}) as prometheus:
            wait_for(
                lambda: scraped(prometheus, f'rate(http_requests_total{{job="{JOB}"}}[4s])'),
                "Prometheus has a request rate of the demo app",
            )
            yield prometheus.url


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
    """A plain HTTP server on loopback answering 200 'ok' to every GET."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
