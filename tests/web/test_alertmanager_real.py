"""A real Alertmanager (Debian's `prometheus-alertmanager`, a plain process on loopback) posts
to `backout serve`'s receiver with an operator token: an alert posted to Alertmanager's API
rolls the service back, and the same alert resolved lands on the incident's timeline."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from web_support import Api, Tokens

from backout.runtime import Runtime
from backout.store import Incident, TimelineEvent
from tests.pg_fixtures import running_in_ci

BINARY = "prometheus-alertmanager"
MISSING = f"{BINARY} not found; run scripts/ensure-system-deps.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, found: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout}s")


class Alertmanager:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def post(self, labels: dict[str, str], *, ends_at: datetime | None = None) -> None:
        now = datetime.now(UTC)
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": {"summary": "5xx above 5% for 1m"},
            "startsAt": (now - timedelta(minutes=1)).isoformat(),
            "generatorURL": "http://prometheus.test/graph",
        }
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat()
        answer = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=10)
        assert answer.status_code == 200, answer.text


@pytest.fixture
def alertmanager(tmp_path: Path, api: Api, tokens: Tokens) -> Iterator[Callable[[], Alertmanager]]:
    """Factory: Alertmanager routing every alert to the API's receiver, quickly."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> Alertmanager:
        if shutil.which(BINARY) is None:
            if running_in_ci():
                pytest.fail(f"CI is set and {MISSING}", pytrace=False)
            pytest.skip(MISSING)
        receiver = str(api.client.base_url.join("/api/v1/alerts/alertmanager"))
        config = {
            "route": {
                "receiver": "backout",
                "group_by": ["alertname", "service"],
                "group_wait": "100ms",
                "group_interval": "500ms",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "backout",
                    "webhook_configs": [
                        {
                            "url": receiver,
                            "send_resolved": True,
                            "max_alerts": 100,
                            "http_config": {"authorization": {"credentials": tokens.operator}},
                        }
                    ],
                }
            ],
        }
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        port = free_port()
        log = tmp_path / "alertmanager.log"
        process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # one instance: no gossip port
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for("ready Alertmanager", lambda: _ready(url, process, log))
        return Alertmanager(url, process, log)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    assert process.poll() is None, f"Alertmanager exited: {log.read_text()}"
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def events(runtime: Runtime) -> list[tuple[str, int]]:
    with runtime.store.session() as session:
        query = select(TimelineEvent.kind, TimelineEvent.incident_id).order_by(TimelineEvent.id)
        return [(kind, incident_id) for kind, incident_id in session.execute(query)]


@pytest.mark.slow
def test_an_alert_through_alertmanager_rolls_back_and_its_resolution_lands_on_the_incident(
    alertmanager: Callable[[], Alertmanager], api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    manager = alertmanager()
    labels = {"alertname": "HighErrorRate", "service": "api", "severity": "page"}

    manager.post(labels)

    fired = wait_for(
        "alert_fired line", lambda: [e for e in events(runtime) if e[0] == "alert_fired"]
    )
    incident_id = fired[0][1]
    with runtime.store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.trigger == "alertmanager:HighErrorRate"
    # The rollback is started in the background after the incident's line is written.
    [run] = wait_for("the rollback run", lambda: api.get("/api/v1/runs", tokens.viewer).json())
    assert run["incident_id"] == incident_id
    assert api.wait_for_run(run["id"], tokens.viewer, timeout=30)["state"] == "succeeded"

    manager.post(labels, ends_at=datetime.now(UTC) - timedelta(seconds=1))

    wait_for(
        "alert_resolved line",
        lambda: ("alert_resolved", incident_id) in events(runtime),
    )
    assert len(api.get("/api/v1/runs", tokens.viewer).json()) == 1  # no second run
