"""A real Unleash server (unleash-server 7.6.5 from tests/node/node_modules) for the flag tests.

`start_unleash` writes a small Node program that starts Unleash on a free 127.0.0.1 port against
a PostgreSQL database, with two API tokens created at start-up: an admin token (what backout's
`unleash` provider needs) and a backend token of one environment (what an SDK polls with).
`UnleashServer` also seeds flags through the admin API, as a team would create them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from backout.config import FlagDefinition
from backout.db.cluster import free_port

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / "node" / "node_modules"
SERVER_ENTRY = NODE_MODULES / "unleash-server" / "dist" / "lib" / "server-impl.js"
ADMIN_TOKEN = "*:*.backout-tests-admin-token"
SDK_ENVIRONMENT = "production"
BACKEND_TOKEN = f"default:{SDK_ENVIRONMENT}.backout-tests-backend-token"
READY_TIMEOUT_S = 90.0
START_ATTEMPTS = 3

# The options are those of unleash-server's createConfig (dist/lib/create-config.js).
_START_PROGRAM = """
import { pathToFileURL } from 'node:url';
const settings = JSON.parse(process.argv[3]);
const { start } = await import(pathToFileURL(process.argv[2]).href);
await start({
  db: { ...settings.db, password: '', ssl: false },
  server: { host: '127.0.0.1', port: settings.port, gracefulShutdownEnable: true },
  authentication: {
    enableApiToken: true,
    initApiTokens: [
      { type: 'admin', environment: '*', projects: ['*'], secret: settings.adminToken,
        tokenName: 'backout-tests-admin' },
      { type: 'backend', environment: settings.sdkEnvironment, projects: ['default'],
        secret: settings.backendToken, tokenName: 'backout-tests-sdk' },
    ],
  },
  logLevel: 'info',  // the log then says why a server ended
  versionCheck: { enable: false },
  telemetry: false,
});
"""


def unleash_missing() -> str | None:
    """Why no Unleash server can run here, or None when node and the server are installed."""
    if shutil.which("node") is None:
        return "node is not installed (an Unleash server runs on Node 20+)"
    if not SERVER_ENTRY.exists():
        return f"unleash-server is not installed in {NODE_MODULES}: run `make node-deps`"
    return None


@dataclass
class UnleashServer:
    """A running Unleash server: its URL, its tokens, and the admin API to seed flags with."""

    url: str
    admin_token: str
    backend_token: str
    process: subprocess.Popen[bytes]
    log_file: Path
    started_in_s: float = 0.0
    project: str = "default"

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": self.admin_token}, timeout=10.0
        )

    def features_path(self, key: str = "") -> str:
        path = f"/api/admin/projects/{self.project}/features"
        return f"{path}/{key}" if key else path

    def seed(self, definitions: Mapping[str, FlagDefinition]) -> None:
        """These flags, as a team would set them up in SDK_ENVIRONMENT (backout's environment in
        the tests): each definition's strategies, its rollout as a gradual rollout.

        A flag a former test changed is set back in place. Archiving and deleting it instead
        would crash Unleash 7.6.5: its lifecycle service records the archiving after the delete,
        an unhandled foreign-key error.
        """
        self.require_running()
        with self.admin() as admin:
            listed = _ok(admin.get(self.features_path())).json()["features"]
            existing = {feature["name"] for feature in listed}
            for key, definition in definitions.items():
                if key not in existing:
                    body = {"name": key, "type": "release"}
                    _ok(admin.post(self.features_path(), json=body))
                self._set_up(admin, key, definition)

    def _set_up(self, admin: httpx.Client, key: str, definition: FlagDefinition) -> None:
        describe = [{"op": "replace", "path": "/description", "value": definition.description}]
        _ok(admin.patch(self.features_path(key), json=describe))
        unmark = {"features": [key], "stale": False}
        _ok(admin.post(f"/api/admin/projects/{self.project}/stale", json=unmark))
        environment = f"{self.features_path(key)}/environments/{SDK_ENVIRONMENT}"
        _ok(admin.post(f"{environment}/off"))
        for strategy in _ok(admin.get(f"{environment}/strategies")).json():
            _ok(admin.delete(f"{environment}/strategies/{strategy['id']}"))
        for strategy in _strategies(key, definition):
            _ok(admin.post(f"{environment}/strategies", json=strategy))
        if definition.enabled:
            _ok(admin.post(f"{environment}/on"))

    def last_event_id(self) -> int:
        """The id of the newest event in Unleash's log (0 when there is none)."""
        with self.admin() as admin:
            events = _ok(admin.get("/api/admin/events")).json()["events"]
        return max((int(event["id"]) for event in events), default=0)

    def event_types(self, key: str, *, after: int) -> list[str]:
        """The types of the events Unleash logged for flag `key` after event `after`."""
        with self.admin() as admin:
            events = _ok(admin.get(f"/api/admin/events/{key}")).json()["events"]
        return [e["type"] for e in sorted(events, key=lambda e: e["id"]) if e["id"] > after]

    def served_to_sdks(self) -> dict[str, Any]:
        """What an SDK with a backend token of SDK_ENVIRONMENT gets from the client API."""
        headers = {"Authorization": self.backend_token}
        response = httpx.get(f"{self.url}/api/client/features", headers=headers, timeout=10.0)
        payload: dict[str, Any] = _ok(response).json()
        return payload

    def require_running(self) -> None:
        """Fail saying how the server ended when it is no longer running."""
        if self.process.poll() is not None:
            raise RuntimeError(f"Unleash ended with {self.process.returncode}:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM (Unleash shuts down gracefully), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def start_unleash(folder: Path, *, db: dict[str, Any]) -> UnleashServer:
    """Start Unleash on a free port against `db` (host, port, user, database); return once
    /health answers. The first start migrates the schema, which takes a few seconds."""
    program = folder / "start-unleash.mjs"
    program.write_text(_START_PROGRAM, encoding="utf-8")
    began = time.monotonic()
    for attempt in range(1, START_ATTEMPTS + 1):
        server = _launch(program, folder / f"unleash-{attempt}.log", db)
        try:
            _wait_until_healthy(server)
        except _PortTaken:
            if attempt == START_ATTEMPTS:
                raise
            continue
        except BaseException:
            server.stop()
            raise
        server.started_in_s = time.monotonic() - began
        return server
    raise AssertionError("unreachable")


def _launch(program: Path, log_file: Path, db: dict[str, Any]) -> UnleashServer:
    port = free_port()
    settings = {
        "db": db,
        "port": port,
        "adminToken": ADMIN_TOKEN,
        "backendToken": BACKEND_TOKEN,
        "sdkEnvironment": SDK_ENVIRONMENT,
    }
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            ["node", str(program), str(SERVER_ENTRY), json.dumps(settings)],
            cwd=program.parent,
            env=_node_environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return UnleashServer(f"http://127.0.0.1:{port}", ADMIN_TOKEN, BACKEND_TOKEN, process, log_file)


def _node_environment() -> dict[str, str]:
    """Only PATH and HOME: Unleash reads dozens of variables (DATABASE_URL, AUTH_TYPE ...)."""
    return {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}


class _PortTaken(RuntimeError):
    """Another program took the free port between our pick and Unleash's bind."""


def _wait_until_healthy(server: UnleashServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if "EADDRINUSE" in server.log():
                raise _PortTaken(server.log())
            raise RuntimeError(
                f"Unleash exited with {server.process.returncode} while starting:\n{server.log()}"
            )
        try:
            answer = httpx.get(f"{server.url}/health", timeout=2.0)
            if answer.status_code == 200 and answer.json().get("health") == "GOOD":
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Unleash did not answer /health within {READY_TIMEOUT_S}s:\n{server.log()}")


def _ok(response: httpx.Response) -> httpx.Response:
    """The response, or an AssertionError saying what Unleash refused (setup must not fail)."""
    if response.is_error:
        request = response.request
        raise AssertionError(
            f"{request.method} {request.url} → {response.status_code}: {response.text}"
        )
    return response


def _strategies(key: str, definition: FlagDefinition) -> list[dict[str, Any]]:
    strategies = list(definition.strategies)
    if definition.rollout is not None:
        parameters = {"rollout": str(definition.rollout), "stickiness": "default", "groupId": key}
        strategies.append({"name": "flexibleRollout", "parameters": parameters})
    return strategies
