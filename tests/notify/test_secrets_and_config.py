"""A channel URL's secrets never leave backout — not in errors, the timeline, the store, the
command's output or its log, the incident, its report, the API — and a bad notifications section
names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from backout.config import parse_config
from backout.errors import ConfigError
from tests.notify.conftest import NotifySite, Receiver, answers_200, wait_for
from tests.notify.test_delivery import roll_back
from tests.prometheus_support import free_port

PASSWORD = "pw-Planted-4711"
TOKEN = "tok-From-Env-0815"


def planted(nsite: NotifySite, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> int:
    """A channel whose URL holds a password and a token (from the environment) that failed
    to be told of a rollback's incident (a failure's reason repeats the URL's parts)."""
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    receiver.stop()  # failures make the URL's host and path appear in reasons
    url = f"json://ops:{PASSWORD}@127.0.0.1:{receiver.port}/" + "${HOOK_TOKEN}/in"
    nsite.tell(
        {
            "notifications": {
                "channels": {"hook": url},
                "audiences": {"team": {"channels": ["hook"]}},
            }
        }
    )
    incident, _ = roll_back(nsite)
    nsite.deliverer().deliver_once()
    return incident


def test_secrets_of_a_channel_url_are_never_shown(
    nsite: NotifySite,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    incident = planted(nsite, receiver, monkeypatch)

    outputs = [
        nsite.backout("notify", "deliver"),
        nsite.backout("notify", "list", "--json"),
        nsite.backout("notify", "test", "hook"),
        nsite.backout("check"),
    ]

    shown = [repr(nsite.notifications()), repr(nsite.timeline(incident)), caplog.text]
    shown += [o.stdout + o.stderr for o in outputs]
    for text in shown:
        assert PASSWORD not in text
        assert TOKEN not in text
    assert "could not tell team through hook (json)" in repr(nsite.timeline(incident))
    assert outputs[2].returncode != 0
    assert "hook (json)" in outputs[2].stderr
    assert "***" in nsite.notifications()[0]["last_error"]


def test_nor_in_the_incident_its_report_or_the_api(
    nsite: NotifySite, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = str(planted(nsite, receiver, monkeypatch))
    token = nsite.backout("token", "create", "reader", "--role", "viewer").stdout.strip()
    port = free_port()
    nsite.start("serve", "--no-watch", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers_200(f"{base}/healthz"), "backout serve")

    outputs = [
        nsite.backout("incident", "show", incident),
        nsite.backout("incident", "show", incident, "--json"),
        nsite.backout("incident", "report", incident),
        nsite.backout("incident", "report", incident, "--format", "html"),
    ]
    read = [
        httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        for path in (
            f"/api/v1/incidents/{incident}",
            f"/api/v1/incidents/{incident}/report?format=md",
            f"/api/v1/incidents/{incident}/report?format=html",
            "/status/summary.json",
        )
    ]

    assert all(o.returncode == 0 for o in outputs), outputs
    assert all(r.status_code == 200 for r in read), [r.text for r in read]
    shown = [o.stdout + o.stderr for o in outputs] + [r.text for r in read]
    assert "could not tell team through hook (json)" in read[0].text, "the failure is there"
    for text in shown:
        assert PASSWORD not in text
        assert TOKEN not in text


@pytest.mark.parametrize(
    ("notifications", "problem"),
    [
        (
            {"channels": {"hook": f"no url {PASSWORD}"}},
            "notifications.channels.hook[0]: expected an Apprise URL",
        ),
        ({"audiences": {"team": {"channels": ["nope"]}}}, "audiences.team.channels names 'nope'"),
        ({"audiences": {"partners": {}}}, "audiences.partners.rules: required"),
        (
            {"audiences": {"team": {"rules": [{"when": "detected", "outage_longer_than": "5m"}]}}},
            "notifications.audiences.team.rules[0]: give exactly one of",
        ),
        (
            {"audiences": {"team": {"rules": [{"when": "detected", "template": "{{ oops"}]}}},
            "notifications.audiences.team.rules[0].template: not a valid Jinja2 template",
        ),
        (
            {"audiences": {"team": {"rules": [{"when": "exploded"}]}}},
            "notifications.audiences.team.rules[0].when",
        ),
    ],
)
def test_a_bad_notifications_section_names_its_key(
    notifications: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"project": "p", "notifications": notifications}, Path("backout.yaml"))

    assert problem in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_an_audience_names_only_known_contacts_and_channels_of_contacts() -> None:
    with pytest.raises(ConfigError, match=r"contacts\[0\].channels names 'pager'"):
        parse_config(
            {"project": "p", "contacts": [{"name": "A", "role": "dba", "channels": ["pager"]}]},
            Path("b.yaml"),
        )
    with pytest.raises(ConfigError, match=r"audiences\.team\.contacts names 'Bo'"):
        parse_config(
            {"project": "p", "notifications": {"audiences": {"team": {"contacts": ["Bo"]}}}},
            Path("b.yaml"),
        )


def test_the_runbook_defaults_tell_each_audience_its_moments() -> None:
    config = parse_config(
        {"project": "p", "notifications": {"audiences": {a: {} for a in ("team", "customers")}}},
        Path("b.yaml"),
    )

    assert [r.moment for r in config.notifications.rules_of("team")] == [
        "detected",
        "rollback_started",
        "rollback_finished",
        "resolved",
        "report_reminder",
    ]
    assert [r.moment for r in config.notifications.rules_of("customers")] == [
        "outage_longer_than 1800s"
    ]
