"""A rollback of a service the docker driver runs, end to end on the tests' own dockerd: the
plan puts the last known good image back, health-checks it over HTTP, monitors, then retires
the bad release's container, which was kept until then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from driver_helpers import answer, free_port

from backout.drivers import ReleaseRef
from backout.operations import views
from backout.operations.deploy import record_release
from backout.operations.rollback import RollbackRequest, plan_rollback, start_rollback
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from tests.docker_support import Dockerd


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def runtime(tmp_path: Path, dockerd: Dockerd, port: int) -> Iterator[Runtime]:
    """`api` on docker: 1.0.0 ran and was marked good, then 1.1.0 replaced it and is live."""
    config = {
        "project": "docker-rollback",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "services": {
            "api": {
                "tier": "critical",
                "driver": {
                    "type": "docker",
                    "image": "demo",
                    "host": dockerd.host,
                    "port": port,
                    "pull": "never",
                    "stop_timeout": "3s",
                },
                "router": {"type": "fake"},
                "health": [{"type": "http", "url": f"http://127.0.0.1:{port}/"}],
                "monitor": "0s",
                "traffic_hold": "0s",
            }
        },
    }
    (tmp_path / "backout.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    opened = Runtime.open(tmp_path / "backout.yaml")
    try:
        driver = opened.driver("api")
        for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
            driver.deploy(ReleaseRef("api", version))
            record_release(opened, "api", version, ref=None, actor="ci", status=status)
        yield opened
    finally:
        opened.close()


def test_the_plan_retires_the_replaced_container_after_monitoring(runtime: Runtime) -> None:
    plan = plan_rollback(runtime, RollbackRequest("api", reason="checkout 500s"))
    kinds = [step.kind for step in plan.steps]
    assert kinds[kinds.index("monitor") + 1] == "retire_previous"


def test_a_rollback_puts_the_good_image_back_and_retires_the_bad_container(
    runtime: Runtime, dockerd: Dockerd, port: int
) -> None:
    assert dockerd.names() == ["api", "api-previous-1.0.0"]

    run = start_rollback(runtime, RollbackRequest("api", reason="checkout 500s"), actor="alice")
    result = run.execute()

    assert result.state is RunState.SUCCEEDED, result
    steps = {step["kind"]: step for step in views.run_detail(runtime, run.run_id)["steps"]}
    assert steps["retire_previous"]["message"] == "removed api-previous-1.1.0"
    assert dockerd.names() == ["api"]
    assert runtime.driver("api").current() == "1.0.0"
    assert (answer(port) or "").startswith("1.0.0 ")
