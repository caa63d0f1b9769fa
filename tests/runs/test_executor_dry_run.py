"""`backout rollback --dry-run` shows the plan that would run, and changes nothing at all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backout.operations.rollback import RollbackRequest, plan_rollback

if TYPE_CHECKING:
    from conftest import Site


def test_a_dry_run_prints_the_plan_and_changes_nothing(site: Site) -> None:
    driver_before, traffic_before = site.driver_state(), site.traffic()

    shown = site.backout("rollback", "api", "--dry-run")

    assert shown.returncode == 0, shown.stderr
    assert "plan: roll api back from 1.1.0 to 1.0.0" in shown.stdout
    steps = plan_rollback(site.runtime(), RollbackRequest("api")).describe()
    assert len(steps) == 6
    for line in steps:
        assert f"  {line}\n" in shown.stdout
    assert "dry run: nothing was changed" in shown.stdout
    assert site.runs() == []
    assert site.incident_count() == 0
    assert site.lock_holder() is None
    assert site.driver_state() == driver_before
    assert site.traffic() == traffic_before
    assert site.live_version() == "1.1.0"
    assert site.release_status("1.1.0") == "live"
