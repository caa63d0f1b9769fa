"""The dashboard under test: a real `backout serve` process on a loopback port, over a fresh
state store with the fake driver (each deploy takes a moment, so a run can be watched step by
step), releases 1.0.0 (good) and 1.1.0 (live) of each service, a flag, one token per role;
and one headless Debian `chromium` per test worker, driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_support import SCREENSHOTS_ENV, SERVICES, Dashboard, serving, write_config
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from backout.operations.deploy import record_release
from backout.operations.tokens import Role, create_token
from backout.releases import ReleaseStatus
from backout.runtime import Runtime

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Module, not session: Playwright's sync API keeps an asyncio loop running in the thread while
# it is open, and every later test of the worker calling asyncio.run() would fail under it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium per test module; each test gets a context of its own (fresh cookies). Playwright
    gives each launch a fresh temporary profile (user-data-dir) and removes it at close."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run scripts/ensure-system-deps.sh")
    launched = playwright.chromium.launch(
        executable_path=executable, args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened.set_default_timeout(15_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: $BACKOUT_SCREENSHOTS, else the session's pytest temporary
    folder (`<basetemp>/dashboard-screenshots`, printed by the screenshot test)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "dashboard-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def served_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard")


@pytest.fixture(scope="module")
def runtime(served_folder: Path) -> Iterator[Runtime]:
    """The tests' own view of the store the server uses (to prepare states and check them)."""
    opened = Runtime.open(write_config(served_folder))
    for service in SERVICES:
        for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
            record_release(opened, service, version, ref=None, actor="test", status=status)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def dashboard(runtime: Runtime, served_folder: Path) -> Iterator[Dashboard]:
    """`backout serve --no-watch` over `runtime`'s config, one per test module: the server
    takes seconds to start, so the tests of a module share it and each acts on a service, a
    flag or a token that no other test of the module changes."""
    tokens = {role: create_token(runtime, role.name.lower(), role, actor="test") for role in Role}
    with serving(runtime, served_folder) as served:
        yield Dashboard(served.url, tokens, runtime)
