"""With `pins:` configured, a rollback pins the bad release in the deploy repository, and a
forced deploy of it lifts the pin: what a pipeline reads to not ship it again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from tests.cli.conftest import Backout


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def pinned_api(live_api: Backout) -> Backout:
    """`live_api` with a deploy repository beside its config and `pins:` pointing at it."""
    repo = live_api.config.parent / "deploy"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    config = yaml.safe_load(live_api.config.read_text())
    config["pins"] = {"repository": "deploy", "author": "On Call <oncall@example.com>"}
    live_api.config.write_text(yaml.safe_dump(config))
    return live_api


def pinned(backout: Backout) -> dict[str, object]:
    path = backout.config.parent / "deploy" / "backout-pins.json"
    return json.loads(path.read_text())["pinned"].get("production", {})  # type: ignore[no-any-return]


def test_a_rollback_pins_the_release_it_rolled_back(pinned_api: Backout) -> None:
    result = pinned_api("rollback", "api", "--yes", "--reason", "checkout 500s")

    assert result.code == 0, result
    assert "✓ 7/7 Pin 1.1.0 in the deploy repository" in result.stderr
    incident = pinned_api("incidents", "--json").json()[0]["id"]
    pin = pinned(pinned_api)["api"]["1.1.0"]  # type: ignore[index]
    assert (pin["reason"], pin["incident"]) == ("checkout 500s", incident)
    repo = pinned_api.config.parent / "deploy"
    assert git(repo, "log", "-1", "--format=%an|%s").strip() == (
        "On Call|backout: pin api 1.1.0 (production): checkout 500s"
    )


def test_a_forced_deploy_lifts_the_pin(pinned_api: Backout) -> None:
    pinned_api.ok("rollback", "api", "--yes", "--reason", "checkout 500s")
    pinned_api("deploy", "api", "1.1.0").refused(1, "rolled back", "--force")

    forced = pinned_api("deploy", "api", "1.1.0", "--force")

    assert forced.code == 0, forced
    assert "Unpin 1.1.0 in the deploy repository" in forced.stderr
    assert "api" not in pinned(pinned_api)
    repo = pinned_api.config.parent / "deploy"
    assert "unpin api 1.1.0 (production): deployed again by" in git(
        repo, "log", "-1", "--format=%s"
    )


def test_a_rollback_without_pins_plans_no_pin_step(live_api: Backout) -> None:
    result = live_api("rollback", "api", "--yes")

    assert result.code == 0, result
    assert "Pin" not in result.stderr


def test_check_notes_a_pin_repository_that_is_not_a_working_copy(backout: Backout) -> None:
    config = yaml.safe_load(backout.config.read_text())
    config["pins"] = {"repository": "no-such-folder"}
    backout.config.write_text(yaml.safe_dump(config))

    checked = backout("check")

    assert checked.code == 0, checked
    assert "note: pins: pins.repository" in checked.stdout + checked.stderr
    assert "no-such-folder is not a folder" in checked.stdout + checked.stderr


def test_a_bad_pins_section_names_the_key(backout: Backout) -> None:
    config = yaml.safe_load(backout.config.read_text())
    config["pins"] = {"repository": "deploy", "author": "no email"}
    backout.config.write_text(yaml.safe_dump(config))

    backout("check").refused(3, "pins.author")
