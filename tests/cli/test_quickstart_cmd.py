"""`backout quickstart`: the demo's bad release is detected and rolled back well inside the RTO,
and the workspace it leaves answers every other command from its own folder."""

from __future__ import annotations

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
