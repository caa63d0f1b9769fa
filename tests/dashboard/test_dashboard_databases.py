"""Databases in Chromium, on a real PostgreSQL cluster archiving through pgBackRest: the backups
and the moments a restore reaches; a restore to a time planned — the data-loss window shown —
before an operator confirms it, landing beside the live data; a restore in place needs an
approver; a viewer reads, and replaying the requests gets 403."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
import yaml
from dashboard_support import Dashboard, run_id_of, serving
from playwright.sync_api import Page, expect

from backout.clock import wait_until
from backout.db.cluster import run_tool
from backout.operations import views
from backout.operations.tokens import Role, create_token
from backout.plans import Plan, StepSpec
from backout.runs.records import RunState
from backout.runs.start import NewRun, start_run
from backout.runtime import Runtime
from backout.subjects import Subject
from tests.db.backup.backup_support import Archiving, rows, start_archiving

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def archiving() -> Iterator[Archiving]:
    started = start_archiving()
    yield started
    started.destroy()


@pytest.fixture(scope="module")
def dashboard(archiving: Archiving) -> Iterator[Dashboard]:
    pg = archiving.pg
    config = {
        "project": "dashboard-databases",
        "state": {"database": "sqlite:///state.db", "directory": "."},
        "databases": {
            "main": {
                "url": pg.conninfo(),
                "cluster": {
                    "data_dir": str(pg.data_dir),
                    "bindir": str(pg.bindir),
                    "os_user": pg.owner,
                },
                "backup": {"type": "pgbackrest", "repository": "repo", "archive_timeout": "60s"},
            }
        },
    }
    path = archiving.folder / "backout.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    runtime = Runtime.open(path)
    tokens = {role: create_token(runtime, role.name.lower(), role, actor="test") for role in Role}
    try:
        with serving(runtime, archiving.folder) as served:
            yield Dashboard(served.url, tokens, runtime)
    finally:
        runtime.close()


def _utc_field(archiving: Archiving) -> str:
    """The server's now, as the page's UTC datetime-local field takes it."""
    return archiving.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_an_operator_plans_a_restore_sees_the_loss_window_and_runs_it_beside(
    page: Page, dashboard: Dashboard, archiving: Archiving
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)
    # The page takes whole seconds: the target is the next one, and row 2 is written after it.
    moment = archiving.now().astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    assert wait_until(lambda: archiving.now() > moment, 5.0)
    target = moment.strftime("%Y-%m-%dT%H:%M:%S")
    archiving.insert(table, 2)  # after the target: a lost write, kept in the report
    archiving.archive_current_wal()
    dashboard.sign_in(page, Role.OPERATOR)

    page.get_by_role("link", name="Databases").click()
    page.get_by_role("link", name="main").click()
    expect(page.locator("table.cards tbody tr")).to_have_count(1)  # the full backup
    page.get_by_label("The moment to go back to (UTC)").fill(target)
    page.get_by_role("button", name="Show the plan").click()

    expect(page.locator("#loss-window")).to_contain_text("Data-loss window")
    expect(page.locator("#loss-window")).to_contain_text("lost-writes report")
    expect(page.get_by_text("Beside the live data:")).to_be_visible()
    page.get_by_label("Why").fill("bad backfill")
    page.get_by_role("button", name="Confirm: restore main").click()

    run_id = run_id_of(page)
    expect(page.locator("#run-state")).to_have_text("succeeded", timeout=120_000)
    run = views.run_detail(dashboard.runtime, run_id)
    steps = {s["kind"]: s for s in run["steps"]}
    try:
        assert run["actor"] == "token:operator"
        assert "1 write(s) after the target" in steps["db_lost_writes"]["message"]
        assert rows(archiving.database, table) == [1, 2], "the live data is untouched"
    finally:
        data_dir = archiving.folder / "restores" / "main" / f"run-{run_id}"
        run_tool(
            [archiving.pg.bindir / "pg_ctl", "stop", "-m", "immediate", "-D", data_dir],
            user=archiving.pg.owner,
        )


def test_a_restore_in_place_needs_an_approver_and_the_name_typed(
    page: Page, dashboard: Dashboard, archiving: Archiving
) -> None:
    target = _utc_field(archiving)
    dashboard.sign_in(page, Role.OPERATOR)
    page.goto(f"{dashboard.url}/databases/main")
    page.get_by_label("The moment to go back to (UTC)").fill(target)
    page.get_by_label("In place of the live data").check()
    page.get_by_role("button", name="Show the plan").click()

    expect(page.get_by_text("a fresh backup of the live data is taken")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm: restore main")).to_have_count(0)
    form = {
        "csrf": dashboard.csrf_of(page),
        "to_time": target,
        "placement": "in_place",
        "reason": "replayed",
        "confirm_name": "main",
    }
    as_operator = page.request.post(
        f"{dashboard.url}/databases/main/restore", form=form, max_redirects=0
    )
    assert as_operator.status == 403, as_operator.text()

    page.get_by_role("button", name="Sign out").click()
    dashboard.sign_in(page, Role.APPROVER)
    page.goto(f"{dashboard.url}/databases/main")
    form["csrf"], form["confirm_name"] = dashboard.csrf_of(page), "mian"
    mistyped = page.request.post(
        f"{dashboard.url}/databases/main/restore", form=form, max_redirects=0
    )
    assert mistyped.status == 422
    assert "type the database&#39;s name, main" in mistyped.text()
    assert len(views.list_runs(dashboard.runtime)) <= 1  # only the earlier test's run


def test_a_viewer_reads_backups_and_plans_but_cannot_restore(
    page: Page, dashboard: Dashboard, archiving: Archiving
) -> None:
    runs_before = len(views.list_runs(dashboard.runtime))
    dashboard.sign_in(page, Role.VIEWER)
    page.goto(f"{dashboard.url}/databases/main")
    page.get_by_label("The moment to go back to (UTC)").fill(_utc_field(archiving))
    page.get_by_role("button", name="Show the plan").click()

    expect(page.locator("#loss-window")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm: restore main")).to_have_count(0)
    form = {
        "csrf": dashboard.csrf_of(page),
        "to_time": _utc_field(archiving),
        "placement": "beside",
        "reason": "replayed",
    }
    replayed = page.request.post(
        f"{dashboard.url}/databases/main/restore", form=form, max_redirects=0
    )
    assert replayed.status == 403
    assert len(views.list_runs(dashboard.runtime)) == runs_before


def test_a_time_no_backup_reaches_is_refused_in_words(page: Page, dashboard: Dashboard) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    page.goto(f"{dashboard.url}/databases/main")
    page.get_by_label("The moment to go back to (UTC)").fill("2001-01-01T00:00:00")
    page.get_by_role("button", name="Show the plan").click()

    expect(page.locator("main")).to_contain_text("before the first backup of main ended")


def test_the_restore_points_runs_set_are_listed(page: Page, dashboard: Dashboard) -> None:
    step = StepSpec("db_restore_point", "Set a restore point", {"database": "main", "label": "t"})
    plan = Plan.single("database", Subject.database("main"), [step])
    run = start_run(dashboard.runtime, NewRun(plan, actor="test", reason="before a migration"))
    assert run.execute().state is RunState.SUCCEEDED
    dashboard.sign_in(page, Role.VIEWER)

    page.goto(f"{dashboard.url}/databases/main")

    row = page.locator("tr", has_text=f"backout-run-{run.run_id}-t")
    expect(row).to_be_visible()
    expect(row.get_by_role("link", name=f"Run {run.run_id}")).to_be_visible()
