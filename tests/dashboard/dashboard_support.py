"""Helpers of the dashboard's tests: the config served, the server's start, signing in."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from playwright.sync_api import Page, expect

from backout.operations.tokens import Role
from backout.runtime import Runtime
from tests.prometheus_support import free_port

SCREENSHOTS_ENV = "BACKOUT_SCREENSHOTS"
DEPLOY_DELAY = "3s"  # each deploy of `api` takes this long: long enough to watch it run,
# even on a loaded machine where the page and its event stream take a second to come up


SERVICES = ("api", "worker", "cron", "mailer")


def write_config(directory: Path) -> Path:
    """Four fake-driven services, so that the tests sharing a server each act on their own:
    `api` (whose deploys take DEPLOY_DELAY), `worker`, `cron` and `mailer`; `api` guarded by a flag."""
    service = {"tier": "critical", "monitor": "0s", "traffic_hold": "0s", "policy": "rollback"}
    config = {
        "project": "dashboard-test",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "watch": {"interval": "50ms"},
        "services": {
            "api": {
                **service,
                "guarded_by": ["waitlist"],
                "driver": {"type": "fake", "deploy_delay": DEPLOY_DELAY},
            },
            "worker": {**service, "tier": "core", "driver": {"type": "fake"}},
            "cron": {**service, "tier": "core", "driver": {"type": "fake"}},
            "mailer": {**service, "tier": "core", "driver": {"type": "fake"}},
        },
        "flags": {"definitions": {"waitlist": {"description": "The new waitlist page."}}},
    }
    path = directory / "backout.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def serving(runtime: Runtime, folder: Path) -> Iterator[Served]:
    """`backout serve --no-watch` over `runtime`'s config, from `folder`. At the end it must
    stop on SIGTERM, cleanly, within 20 s (its log in folder/serve.log)."""
    port = free_port()
    log_path = folder / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "backout"),
                "serve",
                "--no-watch",
                "--port",
                str(port),
                "--config",
                str(runtime.config.source),
            ],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(server, url, log_path)
            yield Served(url, server)
            server.terminate()
            returncode = server.wait(20)
        finally:
            server.kill()
            server.wait()
    assert returncode == 0, log_path.read_text()


def wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not answer in 30s"
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)


@dataclass(frozen=True)
class Dashboard:
    url: str
    tokens: dict[Role, str]
    runtime: Runtime

    def sign_in(self, page: Page, role: Role, *, token: str | None = None) -> None:
        """Sign in through the form (with the role's token, or `token` of that role), as a
        person would, and land on the services page."""
        page.goto(self.url + "/")
        page.get_by_label("API token").fill(token or self.tokens[role])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Services", exact=True)).to_be_visible()
        expect(page.locator(".who")).to_contain_text(role.name.lower())

    def csrf_of(self, page: Page) -> str:
        """The signed-in page's CSRF token (every form carries it)."""
        value = page.locator("input[name=csrf]").first.get_attribute("value")
        assert value
        return value


def run_id_of(page: Page) -> int:
    found = re.search(r"/runs/(\d+)$", page.url)
    assert found, page.url
    return int(found.group(1))
