"""Issue 11's "Done means", end to end: `backout quickstart --notify-config FILE` with the team
told through a real webhook on loopback (Apprise json://) and its on-call engineer by e-mail
through a real SMTP server (aiosmtpd), and `backout serve` beside it, as a team would run it,
whose public status page is read over HTTP while the story goes on.

The incident ends resolved with a complete timeline, its durations met against the 15-minute
RTO of a critical service, the page showed it open then resolved, each receiver had the
incident's four moments in order, and the report was written in both formats."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.notify.conftest import Mailbox, Receiver, answers_200, wait_for
from tests.prometheus_support import free_port

BACKOUT = str(Path(sys.executable).parent / "backout")
STORY_DEADLINE_S = 240.0
ON_CALL = "oncall@example.org"
# The incident is open for the monitoring window (3 s) and more; reading the page more often
# would only load the machine the demo's latency trigger is measured on.
PAGE_POLL_S = 0.25

pytestmark = [pytest.mark.slow, pytest.mark.timeout(STORY_DEADLINE_S + 60)]


def notify_config(receiver: Receiver, mailbox: Mailbox) -> dict[str, Any]:
    """The people side of a backout.yaml: the team's channel and its on-call engineer's mail."""
    return {
        "contacts": [{"name": "On-call engineer", "role": "incident_commander", "email": ON_CALL}],
        "notifications": {
            "channels": {"incidents": receiver.url("incidents")},
            "email": mailbox.url(),
            "audiences": {"team": {"channels": ["incidents"], "roles": ["incident_commander"]}},
        },
    }


@dataclass
class Story:
    result: dict[str, Any]
    receiver: Receiver
    mailbox: Mailbox
    pages: list[dict[str, Any]] = field(default_factory=list)  # summary.json, as read in turn


def serve(workspace: Path, port: int) -> subprocess.Popen[bytes]:
    """`backout serve` in the quickstart's workspace (its store is made: the log exists)."""
    wait_for(
        (workspace / ".backout" / "logs" / "backout.log").exists,
        "the quickstart's store and log",
        timeout_s=60,
    )
    server = subprocess.Popen(
        [BACKOUT, "serve", "--no-watch", "--port", str(port)],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: answers_200(f"http://127.0.0.1:{port}/healthz"), "backout serve", 30)
    return server


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    folder = tmp_path
    receiver, mailbox = Receiver(), Mailbox()
    receiver.start()
    mailbox.start()
    config = folder / "notify.yaml"
    config.write_text(yaml.safe_dump(notify_config(receiver, mailbox)), encoding="utf-8")
    workspace, port = folder / "ws", free_port()
    command = ["quickstart", "--workspace", str(workspace), "--notify-config", str(config)]
    quickstart = subprocess.Popen(
        [BACKOUT, *command, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = serve(workspace, port)
    pages: list[dict[str, Any]] = []
    try:
        summary = f"http://127.0.0.1:{port}/status/summary.json"
        deadline = time.monotonic() + STORY_DEADLINE_S
        while quickstart.poll() is None and time.monotonic() < deadline:
            pages.append(httpx.get(summary, timeout=5.0).json())
            time.sleep(PAGE_POLL_S)
        out, err = quickstart.communicate(timeout=30)
        assert quickstart.returncode == 0, (out + err).decode()
        pages.append(httpx.get(summary, timeout=5.0).json())
        yield Story(json.loads(out), receiver, mailbox, pages)
    finally:
        for process in (quickstart, server):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        receiver.stop()
        mailbox.stop()


def check_the_incident_ends_resolved_within_the_15_minute_objective(story: Story) -> None:
    result = story.result
    assert result["rolled_back"] is True
    assert result["incident_status"] == "resolved"
    measured = {o["name"]: o for o in result["objectives"]}
    assert {"time_to_detect", "time_to_recover", "time_to_resolve"} <= set(measured)
    for name in ("time_to_detect", "time_to_recover"):
        assert measured[name]["objective_s"] == 900
        assert 0 < measured[name]["measured_s"] < 120
        assert measured[name]["met"] is True
    assert measured["time_to_resolve"]["met"] is True


def check_the_timeline_tells_every_step_and_every_notification(story: Story) -> None:
    kinds = [event["kind"] for event in story.result["timeline"]]
    assert kinds[0] == "detected"
    story_kinds = ["detected", "run_planned", "recovered", "run_succeeded", "resolved"]
    assert [k for k in kinds if k in story_kinds] == story_kinds
    assert kinds.count("step_succeeded") >= 4
    moved = [e["text"] for e in story.result["timeline"] if e["kind"] == "status_changed"]
    assert len(moved) >= 3, moved  # investigating → identified → monitoring → resolved
    assert kinds.count("notification_sent") == 8  # 4 moments, each to the channel and by e-mail
    assert "notification_failed" not in kinds
    assert story.result["notifications"] == {"sent": 8, "unsent": 0}
    assert all(e["at"] and e["actor"] for e in story.result["timeline"])


def check_each_receiver_had_the_four_moments_in_order(story: Story) -> None:
    incident = story.result["incident_id"]
    titles = story.receiver.titles()
    assert titles == [
        titles[0],
        "[backend] rolling back 1.1.0 to 1.0.0",
        titles[2],
        f"[backend] resolved: incident {incident}",
    ]
    assert titles[0].startswith(f"[backend] incident {incident}: ")
    assert "succeeded" in titles[2]
    assert "time to recover" in story.receiver.received[3]["message"]
    assert [m["subject"] for m in story.mailbox.messages] == titles
    assert {m["to"] for m in story.mailbox.messages} == {ON_CALL}


def check_the_status_page_showed_the_incident_open_then_resolved(story: Story) -> None:
    incident = str(story.result["incident_id"])

    def shown(page: dict[str, Any]) -> dict[str, Any] | None:
        return next((i for i in page["incidents"] if i["id"] == incident), None)

    states = [(s["status"], p["components"][0]["status"]) for p in story.pages if (s := shown(p))]
    open_states = [state for state in states if state[0] != "resolved"]
    assert open_states, f"the page never showed the incident open: {states[:3]}"
    assert all(component != "operational" for _, component in open_states)
    final = story.pages[-1]
    assert shown(final) is not None
    assert shown(final)["status"] == "resolved"  # type: ignore[index]
    assert [c["status"] for c in final["components"]] == ["operational"]
    assert final["status"]["indicator"] == "none"


def check_the_report_is_written_in_both_formats(story: Story) -> None:
    reports = {fmt: Path(path) for fmt, path in story.result["reports"].items()}
    assert set(reports) == {"md", "html"}
    markdown = reports["md"].read_text(encoding="utf-8")
    html = reports["html"].read_text(encoding="utf-8")
    incident = story.result["incident_id"]
    assert markdown.startswith(f"# Post-incident report: incident {incident} — backend")
    for section in ("Summary", "Impact", "Objectives", "Timeline", "Checklist", "Root cause"):
        assert f"## {section}" in markdown
        assert section in html
    assert "| time to recover | 15m" in markdown
    assert "notification_sent" in markdown
    assert html.lstrip().lower().startswith("<!doctype html>")


def test_the_quickstart_incident_ends_as_issue_11_says_done_means(story: Story) -> None:
    # One test of one story: several would each tell it again on a worker of their own, and
    # the demo's latency trigger is measured on a machine they would all load at once.
    check_the_incident_ends_resolved_within_the_15_minute_objective(story)
    check_the_timeline_tells_every_step_and_every_notification(story)
    check_each_receiver_had_the_four_moments_in_order(story)
    check_the_status_page_showed_the_incident_open_then_resolved(story)
    check_the_report_is_written_in_both_formats(story)
