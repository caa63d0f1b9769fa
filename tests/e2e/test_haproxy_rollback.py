"""A rollback behind a real HAProxy fails no client request: the process driver runs 1.1.0 in
one slot, steady client load goes through HAProxy, and the real plan and executor start 1.0.0
in the other slot, check it, shift the weights 10 → 50 → 100, drain and retire 1.1.0."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from backout.drivers import ReleaseRef
from backout.operations import views
from backout.operations.deploy import deploy, mark_release, record_release
from backout.operations.rollback import RollbackRequest, plan_rollback, start_rollback
from backout.quickstart.platforms.traffic import Traffic
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from tests.haproxy_support import Haproxy
from tests.prometheus_support import free_port, wait_for

pytestmark = pytest.mark.timeout(120)

APP = """\
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, version = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = version.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Haproxy]:
    proxy = Haproxy(tmp_path / "haproxy", free_port(), [free_port(), free_port()])
    proxy.folder.mkdir()
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def write_config(tmp_path: Path, proxy: Haproxy) -> Path:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    service = {
        "tier": "critical",
        "driver": {
            "type": "process",
            "command": [sys.executable, "app.py", "{port}", "{version}"],
            "slots": proxy.slot_ports,
            "stop_timeout": "5s",
        },
        "router": {
            "type": "haproxy",
            "socket": str(proxy.socket),
            "backend": proxy.backend,
            "state_file": str(proxy.state_file),
            "drain_timeout": "10s",
        },
        # `{port}`: the slot the version under check runs in (1.0.0 lands in the idle one).
        "health": [{"type": "http", "url": "http://127.0.0.1:{port}/"}],
        "traffic_restore": [10, 50, 100],
        "traffic_hold": "1s",
        "monitor": "0s",
        "bake_time": "0s",
    }
    config = {
        "project": "haproxy-e2e",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {"api": service},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_a_rollback_behind_haproxy_fails_no_request(tmp_path: Path, proxy: Haproxy) -> None:
    runtime = Runtime.open(write_config(tmp_path, proxy))
    load = Traffic(proxy.url, version_of=lambda response: response.text)
    try:
        for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
            record_release(runtime, "api", version, ref=None, actor="pipeline", status=status)
        runtime.driver("api").deploy(ReleaseRef("api", "1.1.0"))
        wait_for(lambda: httpx.get(proxy.url).text == "1.1.0", "1.1.0 serving through HAProxy")
        load.start()
        wait_for(lambda: load.served.get("1.1.0", 0) > 50, "load on 1.1.0")

        request = RollbackRequest("api", reason="e2e")
        plan = plan_rollback(runtime, request)
        assert [s.kind for s in plan.steps] == [
            "deploy_beside", "health", "restore_traffic", "drain", "retire", "monitor",
            "mark_release",
        ]  # fmt: skip
        result = start_rollback(runtime, request, actor="e2e", plan=plan).execute()
        served_before = load.served.get("1.0.0", 0)
        wait_for(lambda: load.served.get("1.0.0", 0) > served_before + 50, "load on 1.0.0")
        share_at_end = runtime.router("api").share("1.0.0")
        live_port = runtime.driver("api").status().port
    finally:
        load.stop()
        runtime.driver("api").stop()
        runtime.close()

    assert result.state == RunState.SUCCEEDED, result
    assert load.failures == []
    assert share_at_end == 100
    assert live_port == proxy.slot_ports[1]  # 1.0.0 runs alone, in the second slot
    assert load.served.get("1.1.0", 0) > 50  # the load ran across the whole switch


def test_deploys_behind_haproxy_fail_no_request_either(tmp_path: Path, proxy: Haproxy) -> None:
    """A deploy moves the traffic as the rollback does: beside, checked, all traffic, drain,
    retire — also into a slot a rollback left in maintenance."""
    runtime = Runtime.open(write_config(tmp_path, proxy))
    load = Traffic(proxy.url, version_of=lambda response: response.text)
    kinds: dict[str, list[str]] = {}
    try:
        assert deploy(runtime, "api", "1.0.0", ref=None, actor="ci").state == RunState.SUCCEEDED
        mark_release(runtime, "api", "1.0.0", ReleaseStatus.GOOD, actor="ci", reason="baked")
        wait_for(lambda: httpx.get(proxy.url).text == "1.0.0", "1.0.0 serving through HAProxy")
        load.start()
        for version in ("1.1.0", "1.2.0"):
            if version == "1.2.0":  # 1.1.0 went bad: rolled back, its slot left in maintenance
                request = RollbackRequest("api", reason="e2e")
                assert start_rollback(runtime, request, actor="e2e").execute().state == (
                    RunState.SUCCEEDED
                )
            result = deploy(runtime, "api", version, ref=None, actor="ci")
            assert result.state == RunState.SUCCEEDED, result.message
            kinds[version] = [s["kind"] for s in views.run_detail(runtime, result.run_id)["steps"]]
            served_before = load.served.get(version, 0)
            wait_for(lambda v=version, n=served_before: load.served.get(v, 0) > n + 50,  # type: ignore[misc]
                     f"load on {version}")  # fmt: skip
        running = [runtime.driver("api").port_of(v) for v in ("1.0.0", "1.1.0", "1.2.0")]
    finally:
        load.stop()
        runtime.driver("api").stop()
        runtime.close()

    assert load.failures == []
    assert kinds["1.1.0"] == kinds["1.2.0"] == [
        "deploy_beside", "health", "restore_traffic", "drain", "retire", "mark_release",
    ]  # fmt: skip
    assert running.count(None) == 2  # only 1.2.0 runs
