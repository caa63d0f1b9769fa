"""Signing in to the dashboard in Chromium, and what each role may see and do: the buttons a
role cannot use are hidden, and the server refuses its requests all the same (403)."""

from __future__ import annotations

import time

import pytest
from dashboard_support import SERVICES, Dashboard
from playwright.sync_api import Browser, BrowserContext, Page, expect

from backout.operations import views
from backout.operations.tokens import Role, create_token, list_tokens, revoke_token

ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]


def test_without_a_session_the_dashboard_shows_the_sign_in_form(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.url + "/flags")

    assert page.url == dashboard.url + "/"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("API token")).to_be_focused()


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name.lower())
def test_each_role_signs_in_and_sees_only_the_buttons_it_may_use(
    page: Page, dashboard: Dashboard, role: Role
) -> None:
    dashboard.sign_in(page, role)

    expect(page.locator("#service-api")).to_contain_text("1.1.0")
    expect(page.locator("#service-api")).to_contain_text("1.0.0")
    roll_back = page.get_by_role("link", name="Roll back api")
    expect(roll_back).to_have_count(1 if role >= Role.OPERATOR else 0)
    page.goto(dashboard.url + "/flags")
    kill_switch = page.get_by_role("button", name="Kill switch: turn waitlist off")
    expect(kill_switch).to_have_count(1 if role >= Role.OPERATOR else 0)


def test_a_wrong_token_is_refused_and_no_session_is_made(
    page: Page, context: BrowserContext, dashboard: Dashboard
) -> None:
    page.goto(dashboard.url + "/")
    page.get_by_label("API token").fill("bk_not-a-token")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text("That token is unknown or revoked.")
    assert "backout_session" not in {c["name"] for c in context.cookies()}


def test_the_session_cookie_is_http_only_strict_and_never_the_token(
    page: Page, context: BrowserContext, dashboard: Dashboard
) -> None:
    dashboard.sign_in(page, Role.OPERATOR)

    [cookie] = [c for c in context.cookies() if c["name"] == "backout_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert dashboard.tokens[Role.OPERATOR] not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it


def test_a_viewer_replaying_an_operators_requests_gets_403_and_changes_nothing(
    page: Page, dashboard: Dashboard
) -> None:
    dashboard.sign_in(page, Role.VIEWER)
    csrf = dashboard.csrf_of(page)
    form = {"csrf": csrf, "reason": "replayed"}

    for path in (
        "/services/api/rollback",
        "/flags/waitlist/disable",
        "/runs/1/abort",
        "/runs/1/approve",
    ):
        answer = page.request.post(dashboard.url + path, form=form, max_redirects=0)
        assert answer.status == 403, (path, answer.text())

    assert views.list_runs(dashboard.runtime) == []
    assert dashboard.runtime.flags().flag("waitlist").enabled


def test_a_request_without_the_csrf_token_is_403(page: Page, dashboard: Dashboard) -> None:
    dashboard.sign_in(page, Role.ADMIN)
    url = dashboard.url + "/flags/waitlist/disable"

    missing = page.request.post(url, form={"reason": "no token"}, max_redirects=0)
    wrong = page.request.post(url, form={"reason": "wrong", "csrf": "guess"}, max_redirects=0)

    assert (missing.status, wrong.status) == (403, 403)
    assert "CSRF" in missing.text()
    assert dashboard.runtime.flags().flag("waitlist").enabled


def test_signing_out_ends_the_session(page: Page, dashboard: Dashboard) -> None:
    dashboard.sign_in(page, Role.OPERATOR)
    csrf = dashboard.csrf_of(page)

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    replayed = page.request.post(
        dashboard.url + "/flags/waitlist/disable",
        form={"csrf": csrf, "reason": "after sign-out"},
        max_redirects=0,
    )
    assert replayed.status == 403


def test_a_revoked_token_ends_its_sessions(page: Page, dashboard: Dashboard) -> None:
    token = create_token(dashboard.runtime, "to-revoke", Role.OPERATOR, actor="test")
    dashboard.sign_in(page, Role.OPERATOR, token=token)

    revoke_token(dashboard.runtime, "to-revoke", actor="test")

    # The server reads the token again at most TOKEN_RECHECK_S (5 s) after its last check.
    deadline = time.monotonic() + 15
    page.goto(dashboard.url + "/flags")
    while page.url != dashboard.url + "/":  # sent to the sign-in form
        assert time.monotonic() < deadline, "the session outlived its token"
        page.goto(dashboard.url + "/flags")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_the_api_keeps_its_bearer_tokens(page: Page, dashboard: Dashboard) -> None:
    answer = page.request.get(
        dashboard.url + "/api/v1/services",
        headers={"Authorization": f"Bearer {dashboard.tokens[Role.VIEWER]}"},
    )

    assert answer.status == 200
    assert {s["service"] for s in answer.json()} == set(SERVICES)


def test_an_admin_makes_a_token_shown_once_and_revokes_it(
    page: Page, browser: Browser, dashboard: Dashboard
) -> None:
    dashboard.sign_in(page, Role.ADMIN)
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("night-shift")
    page.get_by_label("Role").select_option("approver")
    page.get_by_role("button", name="Make a token").click()

    token = page.get_by_label("New token").input_value()
    assert token.startswith("bk_")
    with browser.new_context() as other:
        dashboard.sign_in(other.new_page(), Role.APPROVER, token=token)
    page.goto(dashboard.url + "/tokens")
    expect(page.get_by_label("New token")).to_have_count(0)  # shown once only

    page.get_by_role("button", name="Revoke night-shift").click()
    expect(page.locator("#token-night-shift")).to_contain_text("revoked")


def test_only_an_admin_sees_and_manages_tokens(page: Page, dashboard: Dashboard) -> None:
    dashboard.sign_in(page, Role.APPROVER)

    expect(page.get_by_role("link", name="Tokens")).to_have_count(0)
    assert page.request.get(dashboard.url + "/tokens").status == 403
    made = page.request.post(
        dashboard.url + "/tokens",
        form={"csrf": dashboard.csrf_of(page), "name": "sneaky", "role": "admin"},
        max_redirects=0,
    )
    assert made.status == 403
    assert "sneaky" not in {t["name"] for t in list_tokens(dashboard.runtime)}
