"""`backout quickstart`: the demo's bad release is detected and rolled back well inside the RTO,
and the workspace it leaves answers every other command from its own folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Backout


@pytest.mark.slow
def test_quickstart_rolls_the_bad_release_back_and_leaves_a_workspace(
    backout: Backout, tmp_path: Path
) -> None:
    workspace = tmp_path / "demo"

    result = backout.bare("quickstart", "--workspace", str(workspace), "--json")

    assert result.code == 0, result
    summary = result.json()
    assert summary["rolled_back"] is True
    assert (summary["from_version"], summary["to_version"]) == ("1.1.0", "1.0.0")
    assert 0 < summary["time_to_recover_s"] < summary["rto_s"]
    shown = backout.bare("incident", "show", str(summary["incident_id"]), "--json", cwd=workspace)
    assert shown.code == 0, shown
    assert shown.json()["status"] == "resolved"
    status = backout.bare("status", "--json", cwd=workspace).json()[0]
    assert (status["service"], status["live_version"]) == ("backend", "1.0.0")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the cluster as another account")
def test_a_database_workspace_the_cluster_account_cannot_reach_is_refused_up_front(
    backout: Backout, tmp_path: Path
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)

    result = backout.bare(
        "quickstart", "--scenario", "database", "--workspace", str(private / "ws")
    )

    assert result.code == 1, result
    assert "out of reach of the cluster's user 'postgres'" in result.stderr
    assert "choose a workspace under /tmp" in result.stderr
    assert not (private / "ws").exists(), "nothing was created"


def test_an_unknown_scenario_is_a_usage_error_naming_the_known_ones(backout: Backout) -> None:
    result = backout.bare("quickstart", "--scenario", "flags-and-more")

    assert result.code == 2, result
    assert "app" in result.stderr
    assert "database" in result.stderr


def test_a_notify_config_with_another_section_is_refused_naming_it(
    backout: Backout, tmp_path: Path
) -> None:
    notify = tmp_path / "notify.yaml"
    notify.write_text("notifications: {}\nservices: {}\n", encoding="utf-8")

    result = backout.bare(
        "quickstart", "--workspace", str(tmp_path / "ws"), "--notify-config", str(notify)
    )

    assert result.code == 3, result
    assert "services: not a section a notify config holds" in result.stderr
    assert "notifications, contacts, approvals" in result.stderr
    assert not (tmp_path / "ws").exists(), "nothing was created"


def test_a_notify_config_is_for_the_app_scenario(backout: Backout, tmp_path: Path) -> None:
    notify = tmp_path / "notify.yaml"
    notify.write_text("notifications: {}\n", encoding="utf-8")

    result = backout.bare("quickstart", "--scenario", "flags", "--notify-config", str(notify))

    assert result.code == 2, result
    assert "only with --scenario app" in result.stderr
