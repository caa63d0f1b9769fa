"""Lay out a quickstart workspace: the demo app's git repository and a backout.yaml for it."""

from __future__ import annotations

import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backout.atomic import write_text_atomic
from backout.demo import (
    BUILD_COMMANDS,
    DATABASE_ENV,
    HEALTH_PATH,
    INSTALL_COMMANDS,
    PROBE_PATH,
    START_COMMAND,
    DemoRepo,
    create_demo_repo,
)

SERVICE = "backend"
ACTOR = "quickstart"  # who the quickstart's deploys, rollbacks and restores are recorded as


@dataclass(frozen=True)
class Workspace:
    path: Path
    config_file: Path
    repo: DemoRepo
    port: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def demo_config(repo_dir: Path, data_dir: Path, port: int) -> dict[str, Any]:
    """The demo's backout.yaml: short bake and monitoring windows, so the story takes seconds."""
    base = f"http://127.0.0.1:{port}"
    return {
        "project": "badminton-group (quickstart)",
        "environment": "demo",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "watch": {"interval": "100ms"},
        "services": {
            SERVICE: {
                "tier": "critical",
                "driver": {
                    "type": "git-build",
                    "repo": repo_dir.name,
                    "install": INSTALL_COMMANDS,
                    "build": BUILD_COMMANDS,
                    "start": START_COMMAND,
                    "port": port,
                    "env": {DATABASE_ENV: str(data_dir / "badminton.db")},
                    "stop_timeout": "5s",
                },
                "router": {"type": "none"},
                "health": [
                    {"type": "http", "url": base + HEALTH_PATH, "max_response_time": "2s"},
                ],
                "health_timeout": "30s",
                "probe": {"url": base + PROBE_PATH, "interval": "25ms", "window": "5s"},
                "triggers": [
                    {"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"},
                    {
                        "name": "slower",
                        "metric": "latency_p95",
                        "above_baseline": 1.5,
                        # The demo answers in a few ms; a floor of 50 ms keeps a busy
                        # machine's scheduling delays from reading as a slower release.
                        "baseline_floor": 0.05,
                        "for": "1s",
                    },
                ],
                "policy": "rollback",
                "bake_time": "2s",
                "monitor": "3s",
                "traffic_restore": [10, 50, 100],
                "traffic_hold": "1s",
            }
        },
        "contacts": [{"name": "On-call engineer", "role": "incident-commander"}],
    }


def create_workspace(path: Path | None = None, sections: dict[str, Any] | None = None) -> Workspace:
    """A new folder (given, or made under the system's temp folder) ready for the story;
    `sections` replace the demo config's sections of the same names (--notify-config)."""
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="backout-quickstart-"))
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    repo = create_demo_repo(path / "badminton-app")
    data_dir = path / "data"
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    config_file = path / "backout.yaml"
    text = "# Written by `backout quickstart`: the demo Badminton Group app.\n"
    config = demo_config(repo.path, data_dir, port) | (sections or {})
    text += yaml.safe_dump(config, sort_keys=False)
    write_text_atomic(config_file, text)
    return Workspace(path, config_file, repo, port)
