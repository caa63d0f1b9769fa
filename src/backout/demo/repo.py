"""Lay out the demo Badminton Group app as a git repository with a good and a bad release.

The app's tree ships in `badminton/` beside this module (package data, not part of the
backout package). `releases/1.1.0/` in it holds the files release 1.1.0 changes; they are laid
over the 1.0.0 tree for the second commit, so `git diff v1.0.0 v1.1.0` reads like a real change:
a waitlist join in the sessions query, behind a rollout share, that fails and slows the
endpoint down; a waitlist check in booking, dormant unless $BADMINTON_BOOKING_FAULT_RATE
routes bookings to it, that fails them (a broken business flow that /health and the sessions
listing do not show); and an Alembic migration (0002) that adds a column and, by a faulty
backfill, overwrites the time of every booking, which no downgrade can bring back.

The app runs on SQLite (the file $BADMINTON_DB) or, when $BADMINTON_DATABASE_URL is set, on
PostgreSQL; it migrates to its release's head at start (see SCHEMA_REVISIONS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from backout.errors import BackoutError, RefusedError, UnavailableError

TEMPLATE_DIR = Path(__file__).resolve().parent / "badminton"

GOOD_VERSION = "1.0.0"
BAD_VERSION = "1.1.0"
TAGS = {GOOD_VERSION: "v1.0.0", BAD_VERSION: "v1.1.0"}

DATABASE_ENV = "BADMINTON_DB"  # the SQLite file, when DATABASE_URL_ENV is not set
DATABASE_URL_ENV = "BADMINTON_DATABASE_URL"  # a SQLAlchemy URL: postgresql+psycopg://...
FAULT_RATE_ENV = "BADMINTON_FAULT_RATE"  # share of failing /api/sessions in 1.1.0 (0.30)
EXTRA_LATENCY_ENV = "BADMINTON_EXTRA_LATENCY_MS"  # added to every /api/sessions in 1.1.0 (40)
BOOKING_FAULT_RATE_ENV = "BADMINTON_BOOKING_FAULT_RATE"  # share of failing bookings in 1.1.0 (0)
# Rehearsal conditions of every version, all off by default (badminton/conditions.py).
ERROR_RATE_ENV = "BADMINTON_ERROR_RATE"  # share of API requests answered 500 at random
LATENCY_JITTER_ENV = "BADMINTON_LATENCY_JITTER_MS"  # each API request waits 0..N ms first
SLOWDOWN_ENV = "BADMINTON_SLOWDOWN"  # each API request takes N times as long
ERROR_BURST_ENV = "BADMINTON_ERROR_BURST"  # AFTER_S,FOR_S,RATE: a burst of errors after start
BROKEN_ROUTE_ENV = "BADMINTON_BROKEN_ROUTE"  # "METHOD /api/TEMPLATE": that route always fails
CONDITION_ENVS = (
    ERROR_RATE_ENV,
    LATENCY_JITTER_ENV,
    SLOWDOWN_ENV,
    ERROR_BURST_ENV,
    BROKEN_ROUTE_ENV,
)

# What the git-build driver runs in a checkout; it fills in {python} and {port}.
INSTALL_COMMANDS: list[str] = [
    '{python} -c "import fastapi, uvicorn, sqlalchemy, alembic, prometheus_client"'
]
BUILD_COMMANDS: list[str] = ["{python} -m badminton.build"]
START_COMMAND = (
    "{python} -m uvicorn badminton.app:app --host 127.0.0.1 --port {port}"
    " --timeout-graceful-shutdown 1 --no-access-log"
)
# The Alembic project in the repository (script_location, relative to its root; an alembic.ini
# at the root names it too), and the head revision each release migrates to at start.
MIGRATIONS_DIR = "migrations"
SCHEMA_REVISIONS = {GOOD_VERSION: "0001", BAD_VERSION: "0002"}

HEALTH_PATH = "/health"
SESSIONS_PATH = "/api/sessions"
PROBE_PATH = SESSIONS_PATH
SIGN_IN_PATH = "/api/signin"
BOOKINGS_PATH = "/api/bookings"

AUTHOR_NAME = "Badminton Group Dev"
AUTHOR_EMAIL = "dev@badminton.example"
COMMIT_MESSAGES = {
    GOOD_VERSION: "Badminton Group 1.0.0: members, groups, court sessions and bookings",
    BAD_VERSION: "Show the waitlist of each court session (1.1.0)",
}
_NOT_COPIED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "dist", "dist.building", "*.db", "*.db-journal", "releases"
)


@dataclass(frozen=True)
class DemoRepo:
    """A demo repository: where it is, and which tag and commit each release has."""

    path: Path
    good_commit: str
    bad_commit: str
    good_version: str = GOOD_VERSION
    bad_version: str = BAD_VERSION
    tags: dict[str, str] = field(default_factory=lambda: dict(TAGS))

    @property
    def commits(self) -> dict[str, str]:
        """The commit id of each version."""
        return {self.good_version: self.good_commit, self.bad_version: self.bad_commit}


def create_demo_repo(path: Path) -> DemoRepo:
    """Create a git repository at `path` (new or empty) with releases v1.0.0 and v1.1.0."""
    if not TEMPLATE_DIR.is_dir():
        raise UnavailableError(f"the demo app is missing from this install: {TEMPLATE_DIR}")
    _refuse_unless_empty(path)
    _copy_tree(TEMPLATE_DIR, path)
    _git(path, "init", "--quiet", "--initial-branch=main")
    good_commit = _commit_and_tag(path, GOOD_VERSION)
    _copy_tree(TEMPLATE_DIR / "releases" / BAD_VERSION, path)
    bad_commit = _commit_and_tag(path, BAD_VERSION)
    return DemoRepo(path=path, good_commit=good_commit, bad_commit=bad_commit)


def _refuse_unless_empty(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RefusedError(
            f"cannot create the demo repository in {path}: it is not an empty folder",
            hint="name a new folder, or empty this one",
        )


def _copy_tree(source: Path, target: Path) -> None:
    """Lay `source` over `target`, leaving out build output, caches and later releases."""
    try:
        shutil.copytree(source, target, ignore=_NOT_COPIED, dirs_exist_ok=True)
        ignore_file = target / "gitignore"
        if ignore_file.exists():  # shipped without its dot: dotfiles are not package data
            ignore_file.replace(target / ".gitignore")
    except OSError as exc:
        raise BackoutError(f"cannot write the demo repository in {target}: {exc}") from None


def _commit_and_tag(path: Path, version: str) -> str:
    _git(path, "add", "--all")
    _git(path, "commit", "--quiet", "--message", COMMIT_MESSAGES[version])
    _git(path, "tag", "--annotate", TAGS[version], "--message", f"Badminton Group {version}")
    return _git(path, "rev-parse", "HEAD")


def _git(path: Path, *args: str) -> str:
    """Run git in `path` with a fixed identity and none of the user's config; its stdout."""
    command = [
        "git",
        "-c",
        f"user.name={AUTHOR_NAME}",
        "-c",
        f"user.email={AUTHOR_EMAIL}",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "tag.gpgsign=false",
        *args,
    ]
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        done = subprocess.run(
            command, cwd=path, env=env, capture_output=True, text=True, check=True, timeout=60
        )
    except FileNotFoundError:
        raise UnavailableError("git is not installed", hint="install git and try again") from None
    except subprocess.CalledProcessError as exc:
        raise BackoutError(
            f"git {' '.join(args)} failed in {path}: {exc.stderr.strip() or exc.returncode}"
        ) from None
    except subprocess.TimeoutExpired:
        raise UnavailableError(f"git {' '.join(args)} did not finish in 60 s") from None
    return done.stdout.strip()
