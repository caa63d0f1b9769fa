"""Fixtures of the demo app tests: a demo repository, checkouts of its tags, running apps."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from demo_database import AppDatabase
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
    app = launch(
        checkout("1.0.0"),
        tmp_path_factory.mktemp("good"),
        {"BADMINTON_FAULT_RATE": "1", "BADMINTON_BOOKING_FAULT_RATE": "1"},
    )
    try:
        wait_until_answering(app)
        yield app
    finally:
        stop(app.process)


@pytest.fixture
def sqlite_database(tmp_path: Path) -> AppDatabase:
    """A SQLite file (not created yet) that several app processes of a test can share."""
    path = tmp_path / "shared" / "badminton.db"
    path.parent.mkdir()
    return AppDatabase("sqlite", f"sqlite:///{path}", {"BADMINTON_DB": str(path)})


@pytest.fixture
def postgres_database(postgres_url: str) -> AppDatabase:
    """A fresh, empty PostgreSQL 15 database, named to the app by BADMINTON_DATABASE_URL."""
    return AppDatabase("postgresql", postgres_url, {"BADMINTON_DATABASE_URL": postgres_url})


@pytest.fixture(params=["sqlite", "postgres"])
def app_database(request: pytest.FixtureRequest) -> AppDatabase:
    """Each backend in turn: the test runs once on SQLite, once on PostgreSQL."""
    database: AppDatabase = request.getfixturevalue(f"{request.param}_database")
    return database
