"""The dashboard over plain HTTP (no browser): the run's event stream, error pages, headers,
forms that are not what a page sends, and the vendored htmx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dashboard_support import Dashboard, serving, write_config

from backout.operations.deploy import record_release
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.operations.tokens import Role, create_token
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime


def sign_in(client: httpx.Client, dashboard: Dashboard, role: Role) -> str:
    """Sign `client` in as `role` through the form; the session's CSRF token."""
    form = client.get("/").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    answer = client.post("/login", data={"token": dashboard.tokens[role], "csrf": csrf.group(1)})
    assert answer.status_code == 303, answer.text
    page = client.get("/").text
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert session_csrf, page
    return session_csrf.group(1)


@pytest.fixture
def client(dashboard: Dashboard) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard.url, timeout=15) as opened:
        yield opened


@pytest.fixture
def viewer(client: httpx.Client, dashboard: Dashboard) -> httpx.Client:
    sign_in(client, dashboard, Role.VIEWER)
    return client


def test_a_finished_runs_stream_sends_its_parts_then_done_and_ends(
    dashboard: Dashboard, viewer: httpx.Client
) -> None:
    request = RollbackRequest(service="worker", reason="stream test")
    run = start_rollback(dashboard.runtime, request, actor="test").execute()

    with viewer.stream("GET", f"/runs/{run.run_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())

    events = re.findall(r"^event: (\w+)$", body, flags=re.MULTILINE)
    assert events == ["actions", "steps", "done"]
    assert 'id="run-state" class="badge succeeded"' in body


def test_a_stream_does_not_send_again_the_parts_its_page_shows(
    dashboard: Dashboard, viewer: httpx.Client
) -> None:
    request = RollbackRequest(service="cron", reason="stream test", approval_gate=True)
    parked = start_rollback(dashboard.runtime, request, actor="test")
    assert parked.execute().state is RunState.AWAITING_APPROVAL
    page = viewer.get(f"/runs/{parked.run_id}")
    found = re.search(r'sse-connect="(/runs/\d+/events\?[^"]+)"', page.text)
    assert found is not None, page.text
    shown_url = found.group(1).replace("&amp;", "&")

    assert _first_event(viewer, f"/runs/{parked.run_id}/events") == "actions"
    assert _first_event(viewer, shown_url) is None  # nothing changed since the page


def _first_event(client: httpx.Client, url: str) -> str | None:
    """The first event a stream sends within 2 s, or None when it sends none."""
    try:
        with client.stream("GET", url, timeout=httpx.Timeout(15, read=2.0)) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    return line.removeprefix("event: ")
    except httpx.ReadTimeout:
        return None
    return None


def test_an_unknown_run_is_a_404_page(viewer: httpx.Client) -> None:
    page = viewer.get("/runs/999")
    stream = viewer.get("/runs/999/events")

    assert (page.status_code, stream.status_code) == (404, 404)
    assert "run 999" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_pages_forbid_framing_and_foreign_scripts_and_are_not_cached(
    viewer: httpx.Client,
) -> None:
    headers = viewer.get("/flags").headers

    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


def test_a_form_post_that_is_not_a_form_has_no_csrf_token_and_is_refused(
    client: httpx.Client, dashboard: Dashboard
) -> None:
    csrf = sign_in(client, dashboard, Role.OPERATOR)

    answer = client.post("/flags/waitlist/disable", json={"reason": "json", "csrf": csrf})

    assert answer.status_code == 403


def test_a_missing_reason_is_a_422_page_and_changes_nothing(
    client: httpx.Client, dashboard: Dashboard
) -> None:
    csrf = sign_in(client, dashboard, Role.OPERATOR)

    answer = client.post("/flags/waitlist/disable", data={"csrf": csrf, "reason": " "})

    assert answer.status_code == 422
    assert "reason" in answer.text
    assert dashboard.runtime.flags().flag("waitlist").enabled


def test_the_sign_in_form_needs_its_own_csrf_cookie(
    client: httpx.Client, dashboard: Dashboard
) -> None:
    answer = client.post("/login", data={"token": dashboard.tokens[Role.ADMIN], "csrf": "x"})

    assert answer.status_code == 403
    assert "backout_session" not in answer.cookies


def test_htmx_is_served_from_the_package_with_its_license(dashboard: Dashboard) -> None:
    script = httpx.get(f"{dashboard.url}/static/vendor/htmx-2.0.11.min.js")
    license_text = httpx.get(f"{dashboard.url}/static/vendor/htmx-2.0.11.LICENSE")

    assert script.status_code == 200
    assert "htmx" in script.text
    assert "Zero-Clause BSD" in license_text.text or "BSD" in license_text.text


def test_the_server_stops_at_once_with_a_runs_stream_open(tmp_path: Path) -> None:
    """A run waiting for approval streams forever; SIGTERM must end the stream, not wait."""
    runtime = Runtime.open(write_config(tmp_path))
    try:
        record_release(runtime, "api", "1.0.0", ref=None, actor="t", status=ReleaseStatus.GOOD)
        record_release(runtime, "api", "1.1.0", ref=None, actor="t", status=ReleaseStatus.LIVE)
        token = create_token(runtime, "viewer", Role.VIEWER, actor="test")
        request = RollbackRequest(service="api", reason="parked", approval_gate=True)
        parked = start_rollback(runtime, request, actor="test")
        assert parked.execute().state is RunState.AWAITING_APPROVAL
        with (
            serving(runtime, tmp_path) as served,
            httpx.Client(base_url=served.url, timeout=15) as client,
        ):
            sign_in(client, Dashboard(served.url, {Role.VIEWER: token}, runtime), Role.VIEWER)
            with client.stream("GET", f"/runs/{parked.run_id}/events") as stream:
                lines = stream.iter_lines()
                assert next(lines) == "event: actions"
                served.process.terminate()
                rest = list(lines)  # ends when the server closes the stream
            assert served.process.wait(10) == 0
        assert "event: done" not in rest
    finally:
        runtime.close()


def test_a_refresh_without_a_session_sends_htmx_to_the_sign_in_page(client: httpx.Client) -> None:
    answer = client.get("/fragments/services", headers={"HX-Request": "true"})
    page = client.get("/fragments/services")

    assert (answer.status_code, answer.headers["hx-redirect"], answer.text) == (200, "/", "")
    assert (page.status_code, page.headers["location"]) == (303, "/")
