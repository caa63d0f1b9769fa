"""An incident in Chromium: an operator adds a note, confirms a checklist item and writes the
report, and the report downloaded has them; a viewer sees the report's sections but no form,
and replaying the operator's requests gets 403 and changes nothing."""

from __future__ import annotations

import pytest
from dashboard_support import Dashboard
from playwright.sync_api import Page, expect

from backout.operations import views
from backout.operations.report import report_sections
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.operations.tokens import Role


@pytest.fixture(scope="module")
def incident_id(dashboard: Dashboard) -> int:
    request = RollbackRequest(service="cron", reason="cron jobs failing after 1.1.0")
    run = start_rollback(dashboard.runtime, request, actor="token:operator").execute()
    found: int = views.run_detail(dashboard.runtime, run.run_id)["incident_id"]
    return found


def test_an_operator_writes_the_incident_and_the_report_has_it(
    page: Page, dashboard: Dashboard, incident_id: int
) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    page.goto(f"{dashboard.url}/incidents/{incident_id}")

    page.get_by_label("Add a note to the timeline").fill("Customers told on the status page")
    page.get_by_label("Public: show it on the status page").check()
    page.get_by_role("button", name="Add the note").click()
    expect(page.locator("ol.timeline")).to_contain_text("Customers told on the status page")

    page.get_by_role("button", name="Confirm: Team notified").click()
    expect(page.locator("ul.checklist li", has_text="Team notified")).to_contain_text("done")

    page.get_by_label("Root cause").fill("A cron schedule in UTC read as local time")
    page.get_by_label("Action items, one per line").fill("Test schedules in UTC\nAlert on skew")
    page.get_by_role("button", name="Save the report").click()
    expect(page.get_by_label("Root cause")).to_have_value(
        "A cron schedule in UTC read as local time"
    )

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download (Markdown)").click()
    report = download_info.value.path().read_text(encoding="utf-8")
    assert "A cron schedule in UTC read as local time" in report
    assert "Alert on skew" in report
    detail = views.incident_detail(dashboard.runtime, incident_id)
    kinds = [(e["kind"], e["actor"]) for e in detail["timeline"]]
    assert ("public_update", "token:operator") in kinds
    notified = next(c for c in detail["checklist"] if c["title"] == "Team notified")
    assert (notified["done"], notified["by"]) == (True, "token:operator")


def test_a_viewer_reads_the_incident_but_cannot_change_it(
    page: Page, dashboard: Dashboard, incident_id: int
) -> None:
    before = views.incident_detail(dashboard.runtime, incident_id)
    dashboard.sign_in(page, Role.VIEWER)
    page.goto(f"{dashboard.url}/incidents/{incident_id}")

    expect(page.get_by_role("heading", name="Post-incident report")).to_be_visible()
    expect(page.locator("form[action$='/notes'], form[action$='/report']")).to_have_count(0)
    expect(page.locator("ul.checklist button")).to_have_count(0)
    csrf = dashboard.csrf_of(page)
    form = {"csrf": csrf, "text": "replayed", "item": "decision_made", "root_cause": "replayed"}
    for action in ("notes", "checklist", "report"):
        url = f"{dashboard.url}/incidents/{incident_id}/{action}"
        answer = page.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403, (action, answer.text())

    after = views.incident_detail(dashboard.runtime, incident_id)
    assert len(after["timeline"]) == len(before["timeline"])
    assert report_sections(dashboard.runtime, incident_id)["root_cause"] != "replayed"


def test_too_many_action_items_are_refused_with_a_clear_answer(
    page: Page, dashboard: Dashboard, incident_id: int
) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    page.goto(f"{dashboard.url}/incidents/{incident_id}")
    form = {
        "csrf": dashboard.csrf_of(page),
        "action_items": "\n".join(f"item {i}" for i in range(51)),
    }

    answer = page.request.post(
        f"{dashboard.url}/incidents/{incident_id}/report", form=form, max_redirects=0
    )

    assert answer.status == 422
    assert "at most 50 action items" in answer.text()
