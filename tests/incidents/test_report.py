"""The post-incident report: what it says of an incident a trigger opened (impact, error rates,
requests failed, objectives, timeline, checklist), in Markdown and HTML from one context; the
sections people write; and one reminder when a resolved incident's report is overdue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from backout.clock import ManualClock
from backout.errors import NotFoundError, RefusedError
from backout.incidents import EventKind, mark_recovered, open_incident, resolve
from backout.incidents.report_sections import SectionsEdit
from backout.operations import views
from backout.operations.incidents import confirm_item
from backout.operations.report import (
    ReportFormat,
    ReportReminder,
    edit_report,
    remind_now,
    render_report,
    report_data,
)
from backout.runtime import Runtime
from backout.store import Incident

START = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
EVIDENCE = [
    {
        "rule": "errors",
        "metric": "error_rate",
        "state": "firing",
        "value": 0.3,
        "threshold": 0.05,
        "samples": 200,
        "window_s": 10.0,
        "sentence": "error rate 30.0% > 5.0% for 2.0s",
    },
    {"rule": "slow", "metric": "latency_p95", "state": "quiet", "value": 0.1, "samples": 200},
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def runtime(tmp_path: Path, clock: ManualClock) -> Iterator[Runtime]:
    config = {
        "project": "club",
        "state": {"database": "sqlite:///state.db"},
        "incidents": {"report_due_after": "24h"},
        "services": {"api": {"tier": "critical", "driver": {"type": "fake"}}},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    opened = Runtime.open(path, clock=clock)
    yield opened
    opened.close()


def an_incident(runtime: Runtime, title: str = "api 1.1.0: error rate 30.0% > 5.0%") -> int:
    """An incident a trigger opened 40s into a bad release, recovered 3 minutes later."""
    with runtime.store.session() as session:
        incident = open_incident(
            session,
            environment=runtime.environment,
            service="api",
            title=title,
            trigger="errors",
            release_id=None,
            rto_s=900.0,
            detected_at=START + timedelta(seconds=40),
            impact_started_at=START,
            actor="backout-watch",
            evidence=EVIDENCE,
        )
        mark_recovered(session, incident, START + timedelta(minutes=3, seconds=40), actor="run")
        incident_id: int = incident.id
    confirm_item(runtime, incident_id, "decision_made", actor="carol")
    return incident_id


def test_the_report_tells_impact_error_rates_and_objectives(runtime: Runtime) -> None:
    incident_id = an_incident(runtime)

    data = report_data(runtime, incident_id)

    impact = data["impact"]
    assert impact["duration_s"] == 220.0  # from the release going live to the recovery
    assert impact["affected_services"] == ["api"]
    assert [m["sentence"] for m in impact["measurements"]] == ["error rate 30.0% > 5.0% for 2.0s"]
    assert (impact["requests_failed"], impact["requests_measured"]) == (60, 200)
    by_name = {o["label"]: o for o in data["objectives"]}
    recovery = by_name["time to recover"]
    assert (recovery["measured_s"], recovery["verdict"]) == (180.0, "met")
    assert by_name["time to detect"]["verdict"] == "met"
    assert data["checklist"][0]["item"] == "Rollback approved by incident commander"
    assert (data["checklist"][0]["by"], data["checklist"][0]["how"]) == ("carol", "confirmed")
    assert data["unwritten"] == ["Root cause", "Lessons learned", "Action items"]


def test_both_formats_hold_every_section(runtime: Runtime) -> None:
    incident_id = an_incident(runtime)

    for fmt in ReportFormat:
        text = render_report(runtime, incident_id, fmt)
        for section in ("Summary", "Impact", "Objectives", "Timeline", "Checklist"):
            assert section in text, (fmt, section)
        for section in ("Root cause", "Lessons learned", "Action items"):
            assert section in text, (fmt, section)
        assert "60 of 200" in text
        assert "Rollback approved by incident commander" in text
    markdown = render_report(runtime, incident_id, ReportFormat.MD)
    assert "| error rate 30.0% > 5.0% for 2.0s |" in markdown  # as a person reads it, not &gt;


def test_html_is_escaped_and_markdown_tables_keep_their_shape(runtime: Runtime) -> None:
    incident_id = an_incident(runtime, title="api: <script>alert(1)</script> | broken")

    html = render_report(runtime, incident_id, ReportFormat.HTML)
    markdown = render_report(runtime, incident_id, ReportFormat.MD)

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    detected_row = next(line for line in markdown.splitlines() if "| detected |" in line)
    assert detected_row.count(" | ") == 3  # the title's pipe is escaped: still four cells
    assert "<script>" not in detected_row


def test_people_write_the_sections_recorded_and_redacted(runtime: Runtime) -> None:
    incident_id = an_incident(runtime)

    edit_report(
        runtime,
        incident_id,
        SectionsEdit(
            root_cause="a backfill without WHERE ran on postgresql://app:hunter2@db/club",
            action_items=["guard backfills", "alert on mass updates"],
        ),
        actor="alice",
    )
    edit_report(
        runtime, incident_id, SectionsEdit(lessons="test migrations on a copy"), actor="bob"
    )

    data = report_data(runtime, incident_id)
    sections = data["sections"]
    assert "hunter2" not in sections["root_cause"]
    assert sections["action_items"] == ["guard backfills", "alert on mass updates"]
    assert (sections["lessons"], sections["edited_by"]) == ("test migrations on a copy", "bob")
    assert data["unwritten"] == []
    edits = [e for e in data["timeline"] if e["kind"] == EventKind.REPORT_EDITED]
    assert [(e["actor"], e["text"]) for e in edits] == [
        ("alice", "report edited: root cause, action items (2)"),
        ("bob", "report edited: lessons learned"),
    ]


def test_an_edit_too_long_or_empty_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    incident_id = an_incident(runtime)

    with pytest.raises(RefusedError, match="at most 20,000"):
        edit_report(runtime, incident_id, SectionsEdit(root_cause="x" * 20_001), actor="a")
    with pytest.raises(RefusedError, match="nothing to edit"):
        edit_report(runtime, incident_id, SectionsEdit(), actor="a")

    assert report_data(runtime, incident_id)["sections"]["root_cause"] is None


def test_a_report_of_an_unknown_incident_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFoundError, match="there is no incident 41"):
        render_report(runtime, 41, ReportFormat.MD)
    with pytest.raises(NotFoundError, match="there is no incident 41"):
        edit_report(runtime, 41, SectionsEdit(lessons="x"), actor="a")


def resolved_incident(runtime: Runtime) -> int:
    incident_id = an_incident(runtime)
    with runtime.store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        resolve(session, incident, "verified", actor="run")
        incident.resolved_at = START + timedelta(minutes=5)
    return incident_id


def move_to(clock: ManualClock, moment: datetime) -> None:
    clock.advance((moment - clock.now()).total_seconds())


def reminders(runtime: Runtime, incident_id: int) -> list[str]:
    timeline = views.incident_detail(runtime, incident_id)["timeline"]
    return [e["message"] for e in timeline if e["kind"] == EventKind.REPORT_REMINDER]


def test_an_unwritten_report_is_reminded_once_after_it_is_due(
    runtime: Runtime, clock: ManualClock
) -> None:
    incident_id = resolved_incident(runtime)

    move_to(clock, START + timedelta(minutes=5, hours=23, seconds=59))
    assert remind_now(runtime) == []
    move_to(clock, START + timedelta(minutes=5, hours=24))
    assert remind_now(runtime) == [incident_id]
    move_to(clock, START + timedelta(hours=48))
    assert remind_now(runtime) == []

    [reminder] = reminders(runtime, incident_id)
    assert reminder.startswith("the post-incident report is unfinished 24 h after")
    assert f"backout incident edit {incident_id}" in reminder


def test_a_report_with_its_root_cause_written_is_not_reminded(
    runtime: Runtime, clock: ManualClock
) -> None:
    incident_id = resolved_incident(runtime)
    edit_report(runtime, incident_id, SectionsEdit(root_cause="a bad backfill"), actor="a")

    move_to(clock, START + timedelta(days=3))

    assert remind_now(runtime) == []
    assert reminders(runtime, incident_id) == []


def test_the_watch_loop_reminder_asks_the_store_at_most_once_a_minute(
    runtime: Runtime, clock: ManualClock
) -> None:
    reminder = ReportReminder(runtime)
    move_to(clock, START + timedelta(days=2))
    assert reminder.check() == []  # nothing resolved yet: the store was asked
    incident_id = resolved_incident(runtime)  # resolved two days ago: overdue

    assert reminder.check() == []  # within the minute: not asked again
    clock.advance(61)
    assert reminder.check() == [incident_id]
