"""`backout incident report` and `backout incident edit`, run as the real program."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NOT_FOUND = 4
USAGE = 2


def test_a_report_of_an_unknown_incident_is_one_line_and_exit_4(live_api: Backout) -> None:
    result = live_api("incident", "report", "7")

    result.refused(NOT_FOUND, "there is no incident 7")
    assert result.stderr.splitlines()[0] == "error: there is no incident 7"
    assert result.stdout == ""


def test_edited_sections_appear_in_both_formats(live_api: Backout) -> None:
    live_api.rolled_back(reason="checkout 500s")

    edited = live_api.ok(
        "incident",
        "edit",
        "1",
        "--root-cause",
        "a bad release",
        "--action-item",
        "canary first",
        "--action-item",
        "alert sooner",
        "--json",
    ).json()
    markdown = live_api.ok("incident", "report", "1").stdout
    live_api.ok("incident", "report", "1", "--format", "html", "--output", "report.html")
    html = (live_api.config.parent / "report.html").read_text(encoding="utf-8")

    assert edited["action_items"] == ["canary first", "alert sooner"]
    assert "## Root cause\n\na bad release" in markdown
    assert "- [ ] canary first" in markdown
    assert "<li>alert sooner</li>" in html
    assert "report_edited" in markdown


def test_an_edit_with_nothing_to_write_or_a_bad_format_is_a_usage_error(
    live_api: Backout,
) -> None:
    live_api.rolled_back()

    live_api("incident", "edit", "1").refused(USAGE, "give --root-cause")
    live_api("incident", "report", "1", "--format", "pdf").refused(USAGE, "md or html")
