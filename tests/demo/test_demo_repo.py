"""create_demo_repo: the demo app as a git repository with a good and a bad release."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from demo_support import run_commands

from backout.demo import (
    BUILD_COMMANDS,
    INSTALL_COMMANDS,
    MIGRATIONS_DIR,
    SCHEMA_REVISIONS,
    DemoRepo,
    create_demo_repo,
)
from backout.errors import RefusedError


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_each_release_has_its_tag_on_its_commit(demo_repo: DemoRepo) -> None:
    assert demo_repo.tags == {"1.0.0": "v1.0.0", "1.1.0": "v1.1.0"}
    assert git(demo_repo.path, "rev-parse", "v1.0.0^{commit}") == demo_repo.good_commit
    assert git(demo_repo.path, "rev-parse", "v1.1.0^{commit}") == demo_repo.bad_commit
    assert demo_repo.commits == {"1.0.0": demo_repo.good_commit, "1.1.0": demo_repo.bad_commit}


def test_bad_release_is_the_child_of_the_good_one_and_the_branch_head(demo_repo: DemoRepo) -> None:
    assert git(demo_repo.path, "rev-parse", f"{demo_repo.bad_commit}^") == demo_repo.good_commit
    assert git(demo_repo.path, "rev-parse", "HEAD") == demo_repo.bad_commit


def test_each_tag_carries_its_own_version(demo_repo: DemoRepo) -> None:
    for version, tag in demo_repo.tags.items():
        release = git(demo_repo.path, "show", f"{tag}:badminton/release.py")
        assert f'VERSION = "{version}"' in release


def test_bad_release_is_a_code_change_to_the_sessions_query(demo_repo: DemoRepo) -> None:
    changed = git(demo_repo.path, "diff", "--name-only", "v1.0.0", "v1.1.0").splitlines()
    diff = git(demo_repo.path, "diff", "v1.0.0", "v1.1.0", "--", "badminton/sessions.py")

    assert "badminton/sessions.py" in changed
    assert "badminton/release.py" in changed
    assert "+LEFT JOIN waitlist" in diff


def test_each_release_carries_the_alembic_revisions_it_migrates_to(demo_repo: DemoRepo) -> None:
    good = git(demo_repo.path, "ls-tree", "-r", "--name-only", "v1.0.0").splitlines()
    added = git(demo_repo.path, "diff", "--name-status", "v1.0.0", "v1.1.0", "--", MIGRATIONS_DIR)

    assert {"alembic.ini", "migrations/env.py", "migrations/versions/0001_club_tables.py"} <= set(
        good
    )
    assert not [f for f in good if f.startswith("migrations/versions/0002")]
    assert added.split() == ["A", "migrations/versions/0002_waitlist_limit.py"]
    assert SCHEMA_REVISIONS == {"1.0.0": "0001", "1.1.0": "0002"}


def test_repository_is_clean_and_holds_only_the_app(demo_repo: DemoRepo) -> None:
    files = git(demo_repo.path, "ls-files").splitlines()

    assert git(demo_repo.path, "status", "--porcelain") == ""
    assert ".gitignore" in files
    assert {"badminton/app.py", "badminton/build.py", "static/index.html"} <= set(files)
    assert not [f for f in files if f.startswith(("releases/", "dist/")) or "__pycache__" in f]


def test_commits_have_the_fixed_author_whatever_the_user_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Someone Else\n\temail = else@example.com\n")
    monkeypatch.setenv("HOME", str(home))
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(name, raising=False)

    repo = create_demo_repo(tmp_path / "repo")

    authors = git(repo.path, "log", "--format=%an <%ae>").splitlines()
    assert authors == ["Badminton Group Dev <dev@badminton.example>"] * 2


def test_creating_into_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(RefusedError, match="not an empty folder"):
        create_demo_repo(tmp_path)

    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_install_and_build_commands_build_the_page_of_a_checkout(
    demo_repo: DemoRepo, tmp_path: Path
) -> None:
    target = tmp_path / "checkout"
    git(demo_repo.path, "worktree", "add", "--quiet", "--detach", str(target), "v1.1.0")

    run_commands(INSTALL_COMMANDS + BUILD_COMMANDS, target)

    page = (target / "dist" / "index.html").read_text()
    assert '<meta name="app-version" content="1.1.0">' in page
    assert git(target, "status", "--porcelain") == ""  # dist/ is ignored, not a change
