"""Fixtures of the demo app tests: a demo repository, checkouts of its tags, running apps."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from demo_support import RunningApp, launch, run_commands, stop, wait_until_answering

from backout.demo import BUILD_COMMANDS, INSTALL_COMMANDS, DemoRepo, create_demo_repo


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> DemoRepo:
    return create_demo_repo(tmp_path_factory.mktemp("demo") / "badminton")


@pytest.fixture(scope="module")
def checkout(
    demo_repo: DemoRepo, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """Factory: a built worktree of a version's tag, made once per module and version."""
    made: dict[str, Path] = {}

    def make(version: str) -> Path:
        if version not in made:
            target = tmp_path_factory.mktemp("checkout") / version
            tag = demo_repo.tags[version]
            subprocess.run(
                ["git", "worktree", "add", "--quiet", "--detach", str(target), tag],
                cwd=demo_repo.path,
                check=True,
                capture_output=True,
            )
            run_commands(INSTALL_COMMANDS + BUILD_COMMANDS, target)
            made[version] = target
        return made[version]

    return make


@pytest.fixture
def start_app(
    checkout: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RunningApp]]:
    """Factory: start a version (extra keywords are its environment), wait until it answers."""
    started: list[RunningApp] = []

    def start(version: str, **env: str) -> RunningApp:
        app = launch(checkout(version), tmp_path_factory.mktemp("run"), env)
        started.append(app)
        wait_until_answering(app)
        return app

    yield start
    for app in started:
        stop(app.process)


@pytest.fixture(scope="module")
def good_app(
    checkout: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """The good release, shared by the tests of one module; asked to fail, as 1.0.0 must not."""
    app = launch(checkout("1.0.0"), tmp_path_factory.mktemp("good"), {"BADMINTON_FAULT_RATE": "1"})
    try:
        wait_until_answering(app)
        yield app
    finally:
        stop(app.process)
