"""The watch loop reads whatever metric source a service's config picks, by `type:`, and says
its values in the words of their units."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from backout.clock import ManualClock
from backout.controller.watch import Watcher
from backout.operations.deploy import deploy
from backout.runs.records import RunState
from backout.runtime import Runtime


def test_a_trigger_on_a_metric_of_a_configured_source_fires(tmp_path: Path) -> None:
    worker = {
        "tier": "core",
        "driver": {"type": "fake"},
        "metrics": {
            "type": "fake",
            "provides": {"queue_depth": "count", "oldest_job": "seconds"},
            "values": {"queue_depth": 500, "oldest_job": 42},
        },
        "triggers": [
            {"name": "backlog", "metric": "queue_depth", "above": 100, "for": "0s"},
            {"name": "stuck", "metric": "oldest_job", "above": 60, "for": "0s"},
        ],
        "policy": "notify",
    }
    path = tmp_path / "backout.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "project": "sources-test",
                "state": {"database": "sqlite:///state.db", "directory": ".backout"},
                "services": {"worker": worker},
            }
        )
    )
    runtime = Runtime.open(path, clock=ManualClock(datetime.now(UTC)))
    try:
        done = deploy(runtime, "worker", "1.0.0", ref=None, actor="test")
        assert done.state is RunState.SUCCEEDED, done.message

        assert Watcher(runtime).run_cycle() == [
            "worker 1.0.0: queue depth 500 > 100 for 0.0s, incident 1 opened; policy is notify, "
            "not rolling back"
        ]
    finally:
        runtime.close()
