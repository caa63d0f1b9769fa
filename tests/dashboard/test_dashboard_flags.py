"""A flag ramped down from the dashboard, in Chromium: stage by stage to off, as `backout flags
ramp-down` does, followed on its run page; stages that do not fall to 0 get a clear answer."""

from __future__ import annotations

from dashboard_support import Dashboard, run_id_of
from playwright.sync_api import Page, expect

from backout.operations import views
from backout.operations.tokens import Role


def test_an_operator_ramps_a_flag_down_to_off(page: Page, dashboard: Dashboard) -> None:
    assert dashboard.runtime.flags().flag("waitlist").enabled
    dashboard.sign_in(page, Role.OPERATOR)
    page.get_by_role("link", name="Flags").click()

    page.get_by_label("Ramp down: stages in percent, falling to 0").fill("50,0")
    page.get_by_label("Hold each stage (triggers armed)").fill("0s")
    page.get_by_label("Why ramp waitlist down").fill("waitlist errors on checkout")
    page.get_by_role("button", name="Ramp waitlist down").click()

    run_id = run_id_of(page)
    expect(page.locator("#run-state")).to_have_text("succeeded", timeout=30_000)
    assert not dashboard.runtime.flags().flag("waitlist").enabled
    run = views.run_detail(dashboard.runtime, run_id)
    assert (run["actor"], run["state"]) == ("token:operator", "succeeded")


def test_stages_that_do_not_fall_to_zero_are_refused_in_words(
    page: Page, dashboard: Dashboard
) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    page.goto(f"{dashboard.url}/flags")
    form = {"csrf": dashboard.csrf_of(page), "stages": "10,50", "hold": "1m", "reason": "x"}

    answer = page.request.post(
        f"{dashboard.url}/flags/waitlist/ramp-down", form=form, max_redirects=0
    )

    assert answer.status == 422
    assert "stages must fall at each step" in answer.text()
