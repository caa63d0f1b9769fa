"""Fixtures of the backup engine tests; the helpers are in backup_support.py."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backup_support import Archiving, reachable_dir, start_archiving


@pytest.fixture(scope="module")
def archiving() -> Iterator[Archiving]:
    """Shared by a module's tests: each writes to its own table, and each leaves a full backup
    newer than any damage it did to the repository, so their order does not matter."""
    shared = start_archiving(retention_full=1)
    yield shared
    shared.destroy()


@pytest.fixture
def own_archiving() -> Iterator[Callable[..., Archiving]]:
    """A factory of clusters for one test alone (for tests that damage or expire backups)."""
    made: list[Archiving] = []

    def make(**settings: Any) -> Archiving:
        made.append(start_archiving(**settings))
        return made[-1]

    yield make
    for archiving in made:
        archiving.destroy()


@pytest.fixture
def restore_dir() -> Iterator[Path]:
    """Where a restore's data directory goes (not created: the engine creates it)."""
    parent = reachable_dir("backout-restore-")
    yield parent / "data"
    shutil.rmtree(parent, ignore_errors=True)
