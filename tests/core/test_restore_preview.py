"""A restore to a time is planned only where the backups reach any moment: a logical engine
(pg_dump) restores to the moment a backup was taken, and its plan is refused in words before
anything is read or started."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from backout.errors import RefusedError
from backout.operations.restore_preview import preview_restore, reaches_any_moment
from backout.runtime import Runtime


def test_a_logical_engine_is_refused_a_restore_to_a_time(tmp_path: Path) -> None:
    config = {
        "project": "restore-preview",
        "state": {"database": "sqlite:///state.db", "directory": "."},
        "databases": {
            "main": {
                "url": "postgresql://backout@127.0.0.1:1/shop",  # never reached
                "backup": {"type": "pg_dump", "repository": "dumps"},
            }
        },
    }
    (tmp_path / "backout.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    runtime = Runtime.open(tmp_path / "backout.yaml")
    try:
        assert reaches_any_moment(runtime, "main") is False
        with pytest.raises(RefusedError) as refused:
            preview_restore(runtime, "main", to_time=datetime.now(UTC), in_place=False)
    finally:
        runtime.close()

    assert "restore only to the moment they were taken" in refused.value.message
    assert "--backup ID" in (refused.value.hint or "")
