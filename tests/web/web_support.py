"""Helpers of the API tests: the config they serve, the tokens, and an HTTP client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from backout.runtime import Runtime

SERVICES = ("api", "worker")
FINISHED = ("succeeded", "failed", "aborted")

OpenRuntime = Callable[..., Runtime]


def write_config(directory: Path, **driver: Any) -> Path:
    """Two fake-driven services; `driver` adds fake driver settings to `api`."""
    service = {"tier": "critical", "monitor": "0s", "traffic_hold": "0s", "policy": "rollback"}
    config = {
        "project": "test",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "watch": {"interval": "50ms"},
        "services": {
            "api": {**service, "driver": {"type": "fake", **driver}},
            "worker": {**service, "tier": "core", "driver": {"type": "fake"}},
        },
    }
    path = directory / "backout.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Tokens:
    """One token per role, each named after its role: the audit log says token:<role>."""

    viewer: str
    operator: str
    approver: str


@dataclass
class Api:
    """An HTTP client of the running server; each call may send a bearer token."""

    client: httpx.Client

    def request(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, token, **kwargs)

    def wait_for_run(self, run_id: int, token: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll GET /runs/{id} until the run has finished; its last view."""
        run: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"/api/v1/runs/{run_id}", token).json()
            if run["state"] in FINISHED:
                return run
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s: {run}")


Serve = Callable[..., Api]
