"""What the person on call does in the dashboard, in Chromium: roll back and watch the run
step by step, approve a gated run, flip a kill switch, download an incident's report."""

from __future__ import annotations

from dashboard_support import Dashboard, run_id_of
from playwright.sync_api import Page, expect
from sqlalchemy import select

from backout.incidents.checklist import asked_at_gate
from backout.operations import flags as flag_ops
from backout.operations import views
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.operations.tokens import Role
from backout.runs.records import RunState
from backout.runtime import Runtime
from backout.store import AuditEntry


def audit_actions(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.store.session() as session:
        rows = session.execute(select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id))
        return [(actor, action) for actor, action in rows]


def test_an_operator_sees_the_plan_confirms_and_watches_the_run_step_by_step(
    page: Page, dashboard: Dashboard
) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    page.get_by_role("link", name="Roll back api").click()

    expect(page.get_by_role("heading", name="Roll back api: 1.1.0 → 1.0.0")).to_be_visible()
    expect(page.locator("ol.plan li").first).to_be_visible()
    page.get_by_label("Why").fill("errors after 1.1.0")
    page.get_by_role("button", name="Confirm: roll back to 1.0.0").click()

    run_id = run_id_of(page)
    page.evaluate("window.stillTheSamePage = true")  # gone if the page were reloaded
    # The deploy step takes seconds (the fake driver's deploy_delay): the page shows it
    # running, then done, as the server-sent events bring each change.
    expect(page.locator('.step[data-state="running"]')).to_have_count(1)
    expect(page.locator("#run-state")).to_have_text("succeeded", timeout=30_000)
    assert page.evaluate("window.stillTheSamePage") is True
    states = page.locator(".step").evaluate_all("steps => steps.map(s => s.dataset.state)")
    assert set(states) <= {"succeeded", "skipped"}, states
    expect(page.get_by_role("button", name=f"Abort run {run_id}")).to_have_count(0)
    run = views.run_detail(dashboard.runtime, run_id)
    assert (run["state"], run["to_version"], run["actor"]) == (
        "succeeded",
        "1.0.0",
        "token:operator",
    )


def test_an_approver_approves_a_gated_run_and_it_goes_on(page: Page, dashboard: Dashboard) -> None:
    request = RollbackRequest(service="worker", reason="trigger fired", approval_gate=True)
    parked = start_rollback(dashboard.runtime, request, actor="test")
    assert parked.execute().state is RunState.AWAITING_APPROVAL
    dashboard.sign_in(page, Role.APPROVER)

    page.goto(f"{dashboard.url}/runs/{parked.run_id}")
    expect(page.locator("#run-state")).to_have_text("awaiting approval")
    # The gate asks for the runbook's items only a person confirms: one is ticked, one not.
    asked = page.locator("fieldset.asks input[name=confirm]")
    assert asked.evaluate_all("boxes => boxes.map(b => b.value)") == [
        item.id for item in asked_at_gate()
    ]
    page.get_by_label("User communication prepared", exact=False).check()
    page.get_by_role("button", name=f"Approve run {parked.run_id}").click()

    expect(page.locator("#run-state")).to_have_text("succeeded", timeout=30_000)
    run = views.run_detail(dashboard.runtime, parked.run_id)
    assert run["steps"][0]["output"]["approved_by"] == "token:approver"
    assert ("token:approver", "run.approved") in audit_actions(dashboard.runtime)
    checklist = views.incident_detail(dashboard.runtime, run["incident_id"])["checklist"]
    confirmed = {c["id"]: c["by"] for c in checklist if c["done"]}
    assert confirmed.get("communication_prepared") == "token:approver"
    assert len([i for i in asked_at_gate() if i.id in confirmed]) == 1  # only the ticked one


def test_an_operator_sees_no_approve_button_on_a_gated_run(
    page: Page, dashboard: Dashboard
) -> None:
    request = RollbackRequest(service="mailer", reason="needs a person", approval_gate=True)
    parked = start_rollback(dashboard.runtime, request, actor="test")
    assert parked.execute().state is RunState.AWAITING_APPROVAL
    dashboard.sign_in(page, Role.OPERATOR)

    page.goto(f"{dashboard.url}/runs/{parked.run_id}")

    expect(page.get_by_text("Waiting for an approver.")).to_be_visible()
    expect(page.get_by_role("button", name=f"Approve run {parked.run_id}")).to_have_count(0)
    page.get_by_label("Why abort").fill("not now")
    page.get_by_role("button", name=f"Abort run {parked.run_id}").click()
    expect(page.locator("#run-state")).to_have_text("aborted")


def test_an_operator_flips_the_kill_switch(page: Page, dashboard: Dashboard) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    page.get_by_role("link", name="Flags").click()

    page.get_by_label("Why turn waitlist off").fill("waitlist breaks checkout")
    page.get_by_role("button", name="Kill switch: turn waitlist off").click()

    expect(page.locator("#flag-waitlist .badge")).to_have_text("off")
    expect(page.get_by_role("button", name="Turn waitlist on")).to_be_visible()
    assert not dashboard.runtime.flags().flag("waitlist").enabled
    [change] = flag_ops.flag_detail(dashboard.runtime, "waitlist")["changes"]
    assert (change["actor"], change["reason"]) == ("token:operator", "waitlist breaks checkout")


def test_a_viewer_downloads_an_incidents_report(page: Page, dashboard: Dashboard) -> None:
    request = RollbackRequest(service="cron", to_version="1.0.0", reason="cron jobs failing")
    done = start_rollback(dashboard.runtime, request, actor="test").execute()
    incident_id = views.run_detail(dashboard.runtime, done.run_id)["incident_id"]
    dashboard.sign_in(page, Role.VIEWER)
    page.get_by_role("link", name="Incidents").click()
    page.locator(f'a[href="/incidents/{incident_id}"]').click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download (Markdown)").click()

    download = download_info.value
    assert download.suggested_filename == f"incident-{incident_id}-report.md"
    text = download.path().read_text(encoding="utf-8")
    assert "cron" in text
