"""Lay out the platforms story's workspace: the demo app's repository, each release built as a
pipeline would build it, the Terraform module, and a backout.yaml naming every real part."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backout.atomic import write_text_atomic
from backout.demo import HEALTH_PATH, PROBE_PATH, START_COMMAND, DemoRepo, create_demo_repo
from backout.errors import BackoutError
from backout.git_command import run_git
from backout.quickstart.platforms import aws, bind, stack
from backout.quickstart.platforms.aws import AwsSite
from backout.quickstart.platforms.bind import DnsSite
from backout.quickstart.platforms.haproxy import HaproxySite
from backout.quickstart.workspace import free_port

BACKEND, FRONTEND = "backend", "frontend"
# The DNS record's target for each release (192.0.2.0/24 is TEST-NET-1: documentation only).
DNS_TARGETS = {"1.0.0": "192.0.2.10", "1.1.0": "192.0.2.20"}


@dataclass(frozen=True)
class PlatformsWorkspace:
    path: Path
    config_file: Path
    repo: DemoRepo
    haproxy: HaproxySite
    dns: DnsSite
    aws: AwsSite
    stack_dir: Path

    def release_dir(self, version: str) -> Path:
        """The built checkout of `version`: what the backend runs, its dist/ the front end."""
        return self.path / "releases" / version

    def stack_vars(self, version: str) -> dict[str, Any]:
        return {"api_image": f"badminton-api:{version}", "replicas": 2}

    @property
    def stack_vars_file(self) -> Path:
        return self.path / "infra" / f"{stack.STACK}.tfvars.json"


def create_platforms_workspace(path: Path | None) -> PlatformsWorkspace:
    """A new folder (given, or made under the system's temp folder) ready for the story."""
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="backout-platforms-"))
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    repo = create_demo_repo(path / "badminton-app")
    workspace = PlatformsWorkspace(
        path=path,
        config_file=path / "backout.yaml",
        repo=repo,
        haproxy=HaproxySite(path / "haproxy", free_port(), [free_port(), free_port()]),
        dns=DnsSite(path / "dns", free_port()),
        aws=AwsSite(path / "aws", free_port()),
        stack_dir=path / "infra" / stack.STACK,
    )
    for version in (repo.good_version, repo.bad_version):
        _build_release(repo, version, workspace.release_dir(version))
    stack.write_module(workspace.stack_dir)
    (path / "data").mkdir(exist_ok=True)
    return workspace


def write_config(workspace: PlatformsWorkspace, distribution_id: str) -> None:
    text = "# Written by `backout quickstart --scenario platforms`.\n"
    text += yaml.safe_dump(platforms_config(workspace, distribution_id), sort_keys=False)
    write_text_atomic(workspace.config_file, text)


def platforms_config(workspace: PlatformsWorkspace, distribution_id: str) -> dict[str, Any]:
    """The story's backout.yaml: short bake and monitoring windows, so it takes a minute."""
    proxy, site = workspace.haproxy, workspace.aws
    return {
        "project": "badminton-group (platforms quickstart)",
        "environment": "demo",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "watch": {"interval": "100ms"},
        "services": {
            BACKEND: _backend(workspace, proxy),
            FRONTEND: _frontend(site, distribution_id),
        },
        "infrastructure": [
            {
                "name": stack.STACK,
                "tool": {"type": "terraform", "dir": _relative(workspace, workspace.stack_dir)},
                "variables": _relative(workspace, workspace.stack_vars_file),
            }
        ],
        "dns": [
            {
                "name": bind.RECORD,
                "type": "A",
                "zone": bind.ZONE,
                "provider": {
                    "type": "rfc2136",
                    "server": bind.ADDRESS,
                    "port": workspace.dns.port,
                    "key_name": bind.KEY_NAME,
                    "key_file": _relative(workspace, workspace.dns.key_file),
                },
            }
        ],
        "contacts": [{"name": "On-call engineer", "role": "incident-commander"}],
    }


def _backend(workspace: PlatformsWorkspace, proxy: HaproxySite) -> dict[str, Any]:
    return {
        "tier": "critical",
        "driver": {
            "type": "process",
            "command": START_COMMAND,
            "slots": proxy.slot_ports,
            "env": {"BADMINTON_DB": str(workspace.path / "data" / "badminton.db")},
            "stop_timeout": "5s",
        },
        "router": {
            "type": "haproxy",
            "socket": str(proxy.admin_socket),
            "backend": proxy.backend,
            "state_file": str(proxy.state_file),
            "drain_timeout": "10s",
        },
        # {port}: the slot of the version under check, so the restored one is checked itself.
        "health": [{"type": "http", "url": "http://127.0.0.1:{port}" + HEALTH_PATH}],
        "health_timeout": "30s",
        "probe": {"url": proxy.url + PROBE_PATH, "interval": "25ms", "window": "5s"},
        "triggers": [{"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"}],
        # The person on call decides: the trigger opens the incident, the story (playing that
        # person) rolls the whole environment back, not the backend alone.
        "policy": "notify",
        "bake_time": "2s",
        "monitor": "3s",
        "traffic_restore": [10, 50, 100],
        "traffic_hold": "1s",
    }


def _frontend(site: AwsSite, distribution_id: str) -> dict[str, Any]:
    return {
        "tier": "core",
        "depends_on": [BACKEND],
        "driver": {
            "type": "static-s3",
            "bucket": aws.BUCKET,
            "distribution_id": distribution_id,
            "endpoint_url": site.endpoint_url,
            "region": aws.REGION,
            "invalidation_timeout": "1m",
        },
        "router": {"type": "none"},
        "health": [{"type": "http", "url": site.site_url}],
        "probe": {"url": site.site_url, "interval": "50ms", "window": "5s"},
        "triggers": [{"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "1s"}],
        "policy": "notify",
        # Longer than the backend's: the bad front end is still baking when the backend's
        # trigger fires, so the full rollback takes it back too (released together).
        "bake_time": "6s",
        "monitor": "0s",
    }


def _relative(workspace: PlatformsWorkspace, path: Path) -> str:
    return str(path.relative_to(workspace.path))


def _build_release(repo: DemoRepo, version: str, folder: Path) -> None:
    """Check out the release's tag and build it, as the team's pipeline would."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tag = repo.tags[version]
    cloned = run_git(
        "clone", "--quiet", "--depth", "1", "--branch", tag, repo.path.as_uri(), str(folder)
    )
    if cloned.returncode != 0:
        raise BackoutError(f"cannot check out {tag} into {folder}: {cloned.stderr.strip()}")
    built = subprocess.run(
        [sys.executable, "-m", "badminton.build"],
        cwd=folder,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if built.returncode != 0:
        raise BackoutError(f"cannot build {version} in {folder}: {built.stderr.strip()}")
