"""The dashboard is usable by everyone on call: by keyboard, with labels, with text that
contrasts with its background, on a phone 390 px wide. Screenshots of each page at desktop and
phone width are kept (see the `screenshots` fixture for where)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dashboard_support import Dashboard
from playwright.sync_api import Page, expect

from backout.clock import ManualClock
from backout.metric_history import MetricHistory
from backout.operations import views
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.operations.tokens import Role

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# The WCAG contrast ratio of each element's own text against the first opaque background
# behind it; answers those under 4.5:1 (AA for body text).
LOW_CONTRAST = """
() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === 'hidden' || el.closest('.visually-hidden, .skip')) continue;
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
  }
  return low;
}
"""


@pytest.fixture(scope="module")
def incident_id(dashboard: Dashboard) -> int:
    """A rollback done and its incident open, so that the pages show something; with what a
    probe of `api` would have recorded around it (these services have no metric source)."""
    request = RollbackRequest(service="api", reason="error rate 12% after 1.1.0")
    run = start_rollback(dashboard.runtime, request, actor="token:operator").execute()
    found: int = views.run_detail(dashboard.runtime, run.run_id)["incident_id"]
    detected = datetime.fromisoformat(
        views.incident_detail(dashboard.runtime, found)["detected_at"]
    )
    clock = ManualClock(start=detected - timedelta(seconds=8))
    history = MetricHistory(dashboard.runtime.store, dashboard.runtime.environment, clock)
    for second in range(-8, 9):
        failing = -3 <= second <= 0
        history.note("api", {"error_rate": 0.12 if failing else 0.0, "latency_p95": 0.02})
        clock.advance(1)
    return found


def pages_to_see(incident_id: int, dashboard: Dashboard) -> dict[str, str]:
    [run] = views.list_runs(dashboard.runtime, limit=1)
    return {
        "services": "/",
        "releases": "/services/api/releases",
        "plan": "/services/worker/rollback",
        "run": f"/runs/{run['id']}",
        "flags": "/flags",
        "incident": f"/incidents/{incident_id}",
        "databases": "/databases",
    }


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_page_fits_contrasts_and_is_kept_as_a_screenshot(
    page: Page, dashboard: Dashboard, incident_id: int, screenshots: Path, width: str
) -> None:
    dashboard.sign_in(page, Role.APPROVER)
    page.set_viewport_size(PHONE if width == "phone" else DESKTOP)

    for name, path in pages_to_see(incident_id, dashboard).items():
        page.goto(dashboard.url + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than the {width} screen"
        assert page.evaluate(LOW_CONTRAST) == [], name
        page.screenshot(path=screenshots / f"{name}-{width}.png", full_page=True)
    print(f"screenshots: {screenshots}")


def test_an_incident_shows_its_charts_with_the_moments_marked(
    page: Page, dashboard: Dashboard, incident_id: int
) -> None:
    dashboard.sign_in(page, Role.VIEWER)
    page.goto(f"{dashboard.url}/incidents/{incident_id}")

    chart = page.get_by_role("img", name=f"error rate around incident {incident_id}")
    expect(chart).to_be_visible()
    points = chart.locator("polyline.series").get_attribute("points") or ""
    assert len(points.split()) == 17  # one a second, from 8 s before the detection to 8 s after
    marks = chart.locator(".mark").evaluate_all("ms => ms.map(m => m.dataset.mark)")
    # No health check verified this rollback (the services have none): no "recovered" mark.
    assert marks == ["detected", "rollback started"], marks
    page.locator("summary", has_text="error rate around incident").click()  # the data
    expect(page.get_by_role("cell", name="12.0%").first).to_be_visible()


def test_the_dashboard_works_by_keyboard(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/")
    page.keyboard.type(dashboard.tokens[Role.OPERATOR])  # the token field has the focus
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Services", exact=True)).to_be_visible()

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")  # on to the first control of the page itself
    assert page.evaluate("document.activeElement.closest('main') !== null")
    assert page.evaluate("document.activeElement.matches(':focus-visible')")


def test_every_form_field_has_a_label(page: Page, dashboard: Dashboard, incident_id: int) -> None:
    dashboard.sign_in(page, Role.ADMIN)
    for path in ("/services/worker/rollback", "/flags"):
        page.goto(dashboard.url + path)
        unlabelled = page.locator("input:not([type=hidden])").evaluate_all(
            "fields => fields.filter(f => !f.labels.length).map(f => f.name)"
        )
        assert unlabelled == [], path
