"""The pin file: one commit per change, of that file alone, idempotent, and clear when the
repository is not usable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from backout.config.pins import PinSettings
from backout.pins import Pin, PinError, PinFile


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def deploy_repo(tmp_path: Path) -> Path:
    """A deploy repository with one commit, and a teammate's change staged but not committed."""
    repo = tmp_path / "deploy"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pipeline.yaml").write_text("stages: [build, deploy]\n")
    git(repo, "add", "pipeline.yaml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "pipeline")
    (repo / "pipeline.yaml").write_text("stages: [build, test, deploy]\n")
    git(repo, "add", "pipeline.yaml")
    return repo


def pins_in(repo: Path, **settings: object) -> PinFile:
    return PinFile(
        PinSettings(repository=str(repo), **settings), repo.parent, repo.parent / "state"
    )


def a_pin(version: str = "1.1.0", reason: str = "checkout 500s") -> Pin:
    return Pin("production", "backend", version, reason, at="2026-12-04T19:00:00+00:00", incident=7)


def test_a_pin_is_one_commit_of_the_pin_file_alone(deploy_repo: Path) -> None:
    said = pins_in(deploy_repo).pin(a_pin())

    assert said.startswith(f"pinned backend 1.1.0 in {deploy_repo / 'backout-pins.json'}")
    assert git(deploy_repo, "log", "-1", "--format=%an <%ae>|%s").strip() == (
        "backout <backout@localhost>|backout: pin backend 1.1.0 (production): checkout 500s"
    )
    assert git(deploy_repo, "show", "--name-only", "--format=", "HEAD").split() == [
        "backout-pins.json"
    ]
    # The teammate's staged change is still staged, not swept into backout's commit.
    assert git(deploy_repo, "diff", "--cached", "--name-only").split() == ["pipeline.yaml"]
    pinned = json.loads((deploy_repo / "backout-pins.json").read_text())["pinned"]
    assert pinned == {
        "production": {
            "backend": {
                "1.1.0": {
                    "reason": "checkout 500s",
                    "at": "2026-12-04T19:00:00+00:00",
                    "incident": 7,
                }
            }
        }
    }


def test_pinning_again_changes_nothing_and_keeps_the_first_reason(deploy_repo: Path) -> None:
    pins = pins_in(deploy_repo)
    pins.pin(a_pin())
    commits = git(deploy_repo, "rev-list", "--count", "HEAD")

    pins.pin(a_pin(reason="a second look"))

    assert git(deploy_repo, "rev-list", "--count", "HEAD") == commits
    assert pins.pinned()["production"]["backend"]["1.1.0"]["reason"] == "checkout 500s"


def test_a_pin_written_but_not_committed_is_committed_on_the_next_attempt(
    deploy_repo: Path,
) -> None:
    pins = pins_in(deploy_repo)
    pins.pin(a_pin())
    git(deploy_repo, "reset", "-q", "--soft", "HEAD~1")  # as if the process died before committing
    git(deploy_repo, "restore", "--staged", "backout-pins.json")

    pins.pin(a_pin())

    assert "backout-pins.json" in git(deploy_repo, "show", "--name-only", "--format=", "HEAD")
    assert git(deploy_repo, "status", "--porcelain", "--", "backout-pins.json") == ""


def test_unpinning_removes_the_version_and_commits(deploy_repo: Path) -> None:
    pins = pins_in(deploy_repo)
    pins.pin(a_pin("1.1.0"))
    pins.pin(a_pin("1.2.0"))

    said = pins.unpin("production", "backend", "1.1.0", why="fixed in place")

    assert said.startswith("unpinned backend 1.1.0")
    assert not pins.is_pinned("production", "backend", "1.1.0")
    assert pins.is_pinned("production", "backend", "1.2.0")
    assert "unpin backend 1.1.0" in git(deploy_repo, "log", "-1", "--format=%s")
    assert pins.unpin("production", "backend", "9.9.9", why="x").endswith(
        f"was not pinned in {deploy_repo / 'backout-pins.json'}"
    )


def test_push_sends_the_pin_to_the_upstream(deploy_repo: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream.git"
    git(tmp_path, "init", "-q", "--bare", str(upstream))
    git(deploy_repo, "remote", "add", "origin", str(upstream))
    git(deploy_repo, "push", "-q", "-u", "origin", "main")

    pins_in(deploy_repo, push=True).pin(a_pin())

    assert "backout: pin backend 1.1.0" in git(upstream, "log", "-1", "--format=%s", "main")


def test_a_push_that_fails_may_be_retried(deploy_repo: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream.git"
    git(tmp_path, "init", "-q", "--bare", str(upstream))
    git(deploy_repo, "remote", "add", "origin", str(upstream))
    git(deploy_repo, "push", "-q", "-u", "origin", "main")
    upstream.rename(tmp_path / "moved.git")  # the server is gone for now

    with pytest.raises(PinError, match=r"`git push` in .* failed") as raised:
        pins_in(deploy_repo, push=True).pin(a_pin())

    assert raised.value.retryable
    assert "backout: pin backend 1.1.0" in git(deploy_repo, "log", "-1", "--format=%s")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda root: root / "missing", "is not a folder"),
        (lambda root: (root / "plain").mkdir() or root / "plain", "is not the top of a git"),
    ],
    ids=["missing folder", "not a working copy"],
)
def test_an_unusable_repository_is_named_with_what_to_do(
    tmp_path: Path, make: object, expected: str
) -> None:
    repo = make(tmp_path)  # type: ignore[operator]

    with pytest.raises(PinError, match=expected) as raised:
        pins_in(repo).pin(a_pin())

    assert raised.value.hint is not None
    assert not raised.value.retryable


def test_a_corrupt_pin_file_is_named(deploy_repo: Path) -> None:
    (deploy_repo / "backout-pins.json").write_text("{not json")

    with pytest.raises(PinError, match=r"backout-pins\.json cannot be read"):
        pins_in(deploy_repo).pinned()
