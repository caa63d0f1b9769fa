"""The `git-build` driver against a real git repository, real builds and a real service."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from driver_helpers import answer, build_driver, commit_version, free_port, git, git_build_settings

from backout.drivers import Driver, ReleaseRef, RunState
from backout.drivers.git_build import MARKER, GitBuildDriver
from backout.errors import ConfigError, DriverError


def git_build(tmp_path: Path, port: int, **overrides: Any) -> GitBuildDriver:
    driver = build_driver("git-build", git_build_settings(tmp_path, port, **overrides), tmp_path)
    assert isinstance(driver, GitBuildDriver)
    return driver


def journal(tmp_path: Path) -> list[str]:
    path = tmp_path / "build-journal.txt"
    return path.read_text().splitlines() if path.exists() else []


def serving_version(port: int) -> str | None:
    body = answer(port)
    return None if body is None else body.split()[0]


def release(version: str, ref: str | None = None) -> ReleaseRef:
    return ReleaseRef("web", version, ref)


def test_deploy_checks_out_installs_builds_and_starts_the_tagged_commit(
    tmp_path: Path, app_repo: Path
) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    driver.deploy(release("1.0.0"))
    assert serving_version(port) == "1.0.0"
    assert journal(tmp_path) == ["install 1.0.0", "build 1.0.0"]
    folder = driver.release_folder("1.0.0")
    assert (folder / "built.txt").read_text() == "1.0.0"
    assert (folder / MARKER).read_text().strip() == git(app_repo, "rev-parse", "v1.0.0")


def test_a_rollback_to_a_kept_release_does_not_rebuild(tmp_path: Path, app_repo: Path) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    driver.deploy(release("1.0.0"))
    driver.deploy(release("1.1.0"))
    driver.deploy(release("1.0.0"))
    assert serving_version(port) == "1.0.0"
    assert journal(tmp_path) == ["install 1.0.0", "build 1.0.0", "install 1.1.0", "build 1.1.0"]


def test_a_rollback_to_a_kept_release_needs_no_git_server(tmp_path: Path, app_repo: Path) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    driver.deploy(release("1.0.0"))
    driver.deploy(release("1.1.0"))
    shutil.rmtree(app_repo)
    git_build(tmp_path, port).deploy(release("1.0.0"))
    assert serving_version(port) == "1.0.0"


def test_a_failed_build_reports_the_command_and_output_and_leaves_what_runs(
    tmp_path: Path, app_repo: Path
) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    driver.deploy(release("1.0.0"))
    (tmp_path / "fail-the-build").touch()
    with pytest.raises(DriverError) as raised:
        driver.deploy(release("1.1.0"))
    message = str(raised.value)
    assert "build.py build" in message
    assert "exited with code 2" in message
    assert "error TS2304: Cannot find name 'Court'" in message
    assert not (driver.release_folder("1.1.0") / MARKER).exists()
    assert driver.current() == "1.0.0"
    assert serving_version(port) == "1.0.0"


def test_an_unfinished_build_is_redone_from_scratch(tmp_path: Path, app_repo: Path) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    (tmp_path / "fail-the-build").touch()
    with pytest.raises(DriverError):
        driver.prepare(release("1.1.0"))
    (tmp_path / "fail-the-build").unlink()
    driver.deploy(release("1.1.0"))
    assert serving_version(port) == "1.1.0"
    assert journal(tmp_path)[-2:] == ["install 1.1.0", "build 1.1.0"]


@pytest.mark.parametrize(
    ("wanted", "named"),
    [
        (release("9.9.9"), "tag 'v9.9.9' or '9.9.9'"),
        (release("1.0.0", "no-such-tag"), "no-such-tag"),
    ],
)
def test_an_unknown_ref_is_an_error_naming_it(
    tmp_path: Path, app_repo: Path, wanted: ReleaseRef, named: str
) -> None:
    driver = git_build(tmp_path, free_port())
    with pytest.raises(DriverError) as raised:
        driver.deploy(wanted)
    assert named in str(raised.value)
    assert not raised.value.retryable
    assert driver.status().state is RunState.STOPPED


def test_a_release_is_found_by_its_tag_without_v_or_by_its_commit(
    tmp_path: Path, app_repo: Path
) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    driver.deploy(release("1.2.0"))
    assert serving_version(port) == "1.2.0"
    commit = git(app_repo, "rev-parse", "v1.0.0")
    driver.deploy(release("1.0.0-hotfix", commit))
    assert serving_version(port) == "1.0.0"


def test_a_tag_pushed_after_the_first_deploy_is_fetched(tmp_path: Path, app_repo: Path) -> None:
    port = free_port()
    driver = git_build(tmp_path, port)
    driver.deploy(release("1.0.0"))
    commit_version(app_repo, "1.3.0", "v1.3.0")
    driver.deploy(release("1.3.0"))
    assert serving_version(port) == "1.3.0"


def test_old_release_folders_are_pruned_but_never_the_running_one(
    tmp_path: Path, app_repo: Path
) -> None:
    port = free_port()
    driver = git_build(tmp_path, port, keep_releases=1)
    driver.deploy(release("1.0.0"))
    driver.deploy(release("1.1.0"))
    assert not driver.release_folder("1.0.0").exists()
    driver.prepare(release("1.2.0"))
    assert driver.release_folder("1.1.0").exists(), "the running release is kept"
    assert driver.release_folder("1.2.0").exists(), "the release just prepared is kept"
    driver.deploy(release("1.2.0"))
    assert not driver.release_folder("1.1.0").exists()
    assert serving_version(port) == "1.2.0"


def test_pruning_keeps_the_most_recently_deployed_releases(tmp_path: Path, app_repo: Path) -> None:
    driver = git_build(tmp_path, free_port(), keep_releases=2)
    for version in ("1.0.0", "1.1.0", "1.0.0", "1.2.0"):
        driver.deploy(release(version))
    kept = sorted(p.name for p in driver.releases_dir.iterdir())
    assert kept == ["1.0.0", "1.2.0"], "1.0.0 ran more recently than 1.1.0"


def test_the_repository_path_is_relative_to_the_config_file(tmp_path: Path, app_repo: Path) -> None:
    config_dir = tmp_path / "ops"
    config_dir.mkdir()
    port = free_port()
    settings = git_build_settings(tmp_path, port, repo="../app-repo")
    driver: Driver = build_driver("git-build", settings, config_dir)
    driver.deploy(release("1.0.0"))
    assert serving_version(port) == "1.0.0"


def test_a_missing_repository_is_an_error_naming_it(tmp_path: Path) -> None:
    driver = git_build(tmp_path, free_port(), repo="not-cloned-yet")
    with pytest.raises(DriverError, match="not-cloned-yet does not exist"):
        driver.prepare(release("1.0.0"))


def test_a_build_command_using_port_needs_a_port(tmp_path: Path) -> None:
    settings = git_build_settings(tmp_path, free_port(), build=["echo {port}"])
    del settings["port"]
    settings["start"] = "{python} server.py 8080"
    with pytest.raises(ConfigError, match=r"services\.web\.driver\.build"):
        build_driver("git-build", settings, tmp_path)
