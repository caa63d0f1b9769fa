"""Alertmanager's webhook receiver: a firing alert for a service is a trigger (incident, bad
release, rollback by policy), a repeat joins the incident, a resolved alert is written on it,
an alert for no configured service is answered and audited; only an operator's token or a
signed delivery — signed once, recently, with the shared secret — is accepted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from web_support import Api, Serve, Tokens, write_config

from backout.operations.deploy import record_release
from backout.operations.tokens import Role, create_token
from backout.operations.webhook_signatures import SIGNATURE_HEADER, sign
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.store import AuditEntry, Incident, Release, Run, TimelineEvent

PATH = "/api/v1/alerts/alertmanager"
SECRET = "s3cret-shared-with-the-sender"
SECRET_ENV = "BACKOUT_TEST_ALERT_SECRET"


def alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": "api", **labels},
        "annotations": {"summary": "5xx above 5% for 1m"},
        "startsAt": "2026-12-04T13:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-04T13:05:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
        "fingerprint": "a1b2c3d4e5f60718",
    }


def delivery(*alerts: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager's webhook body, version 4."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": alerts[0]["status"] if alerts else "firing",
        "receiver": "backout",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def timeline(runtime: Runtime, incident_id: int) -> list[TimelineEvent]:
    with runtime.store.session() as session:
        query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
        events = list(session.scalars(query.order_by(TimelineEvent.id)))
        session.expunge_all()
    return events


def runs_of(runtime: Runtime) -> list[int]:
    with runtime.store.session() as session:
        return list(session.scalars(select(Run.id)))


def patched_runtime(
    directory: Path, *, alerts: dict[str, Any] | None = None, api: dict[str, Any] | None = None
) -> Runtime:
    """The API tests' config with `alerts:` and more keys of service `api`; 1.1.0 of `api` live,
    1.0.0 good. The caller closes it (the `serve` fixture's runtime outlives the test body)."""
    path = write_config(directory)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["alerts"] = alerts or {}
    config["services"]["api"].update(api or {})
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    runtime = Runtime.open(path)
    record_release(runtime, "api", "1.0.0", ref=None, actor="t", status=ReleaseStatus.GOOD)
    record_release(runtime, "api", "1.1.0", ref=None, actor="t", status=ReleaseStatus.LIVE)
    return runtime


@pytest.fixture
def signed_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """`alerts.hmac_secret_env` set, and the secret in that variable."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    runtime = patched_runtime(
        tmp_path, alerts={"hmac_secret_env": SECRET_ENV, "signature_tolerance": "5m"}
    )
    yield runtime
    runtime.close()


def wait_for_state(api: Api, run_id: int, token: str, state: str) -> None:
    deadline = time.monotonic() + 10
    while api.get(f"/api/v1/runs/{run_id}", token).json()["state"] != state:
        assert time.monotonic() < deadline, f"run {run_id} never reached {state}"
        time.sleep(0.02)


def post_signed(api: Api, body: bytes, header: str) -> Any:
    headers = {SIGNATURE_HEADER: header, "Content-Type": "application/json"}
    return api.client.post(PATH, content=body, headers=headers)


def test_a_firing_alert_opens_the_incident_and_rolls_the_service_back(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    answer = api.post(PATH, tokens.operator, json=delivery(alert()))

    assert answer.status_code == 202, answer.text
    [outcome] = answer.json()["outcomes"]
    assert outcome["action"] == "rolling_back"
    assert outcome["message"].startswith("api 1.1.0: alert HighErrorRate firing: 5xx above 5%")
    assert api.wait_for_run(outcome["run_id"], tokens.viewer)["state"] == "succeeded"
    with runtime.store.session() as session:
        incident = session.get(Incident, outcome["incident_id"])
        assert incident is not None
        assert (incident.trigger, incident.category) == ("alertmanager:HighErrorRate", "errors")
        bad = session.scalars(
            select(Release).where(Release.service == "api", Release.version == "1.1.0")
        ).one()
        assert bad.status == ReleaseStatus.ROLLED_BACK
    kinds = [e.kind for e in timeline(runtime, outcome["incident_id"])]
    assert kinds[:2] == ["detected", "alert_fired"]
    fired = timeline(runtime, outcome["incident_id"])[1]
    assert fired.actor == "token:operator"
    assert fired.evidence is not None
    assert fired.evidence[0]["labels"]["alertname"] == "HighErrorRate"
    assert fired.evidence[0]["starts_at"] == "2026-12-04T13:00:00Z"


def test_the_same_alert_again_joins_the_incident_and_starts_no_second_run(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    first = api.post(PATH, tokens.operator, json=delivery(alert())).json()["outcomes"][0]
    again = api.post(PATH, tokens.operator, json=delivery(alert())).json()["outcomes"][0]

    assert again["action"] == "joined"
    assert again["incident_id"] == first["incident_id"]
    assert again["run_id"] is None
    assert runs_of(runtime) == [first["run_id"]]
    kinds = [e.kind for e in timeline(runtime, first["incident_id"])]
    assert kinds.count("alert_fired") == 2


def test_a_resolved_alert_is_written_on_the_open_incident_and_changes_nothing_else(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    fired = api.post(PATH, tokens.operator, json=delivery(alert())).json()["outcomes"][0]
    api.wait_for_run(fired["run_id"], tokens.viewer)
    with runtime.store.session() as session:
        before = session.get(Incident, fired["incident_id"]).status  # type: ignore[union-attr]

    answer = api.post(PATH, tokens.operator, json=delivery(alert("resolved")))

    [outcome] = answer.json()["outcomes"]
    assert (answer.status_code, outcome["action"]) == (202, "recorded")
    events = timeline(runtime, fired["incident_id"])
    assert events[-1].kind == "alert_resolved"
    assert events[-1].evidence[0]["ends_at"] == "2026-12-04T13:05:00Z"  # type: ignore[index]
    with runtime.store.session() as session:
        assert session.get(Incident, fired["incident_id"]).status == before  # type: ignore[union-attr]


def test_an_alert_for_no_configured_service_is_answered_and_audited_not_retried(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    unknown = alert(service="billing")
    unlabelled = alert()
    del unlabelled["labels"]["service"]

    answer = api.post(PATH, tokens.operator, json=delivery(unknown, unlabelled))

    assert answer.status_code == 202
    outcomes = answer.json()["outcomes"]
    assert [o["action"] for o in outcomes] == ["ignored", "ignored"]
    assert "names service 'billing', not configured (api, worker)" in outcomes[0]["message"]
    assert "has no 'service' label" in outcomes[1]["message"]
    assert runs_of(runtime) == []
    with runtime.store.session() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.ignored"))
        assert [e.target for e in audited] == ["billing", "(none)"]


def test_a_category_whose_policy_is_notify_opens_the_incident_only(
    serve: Serve, tmp_path: Path
) -> None:
    runtime = patched_runtime(tmp_path, api={"policies": {"performance": "notify"}})
    api = serve(runtime)
    token = create_token(runtime, "am", Role.OPERATOR, actor="t")

    answer = api.post(PATH, token, json=delivery(alert(backout_category="performance")))

    [outcome] = answer.json()["outcomes"]
    assert outcome["action"] == "notified"
    assert outcome["message"].endswith("policy is notify, not rolling back")
    assert runs_of(runtime) == []
    with runtime.store.session() as session:
        incident = session.get(Incident, outcome["incident_id"])
        assert incident is not None
        assert incident.category == "performance"


def test_the_category_label_picks_the_policy_data_waits_for_approval(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    answer = api.post(PATH, tokens.operator, json=delivery(alert(backout_category="data")))

    [outcome] = answer.json()["outcomes"]
    assert outcome["action"] == "awaiting_approval"
    wait_for_state(api, outcome["run_id"], tokens.viewer, "awaiting_approval")
    with runtime.store.session() as session:
        assert session.get(Incident, outcome["incident_id"]).category == "data"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("not-a-token", 401), ("viewer", 403), ("approver", 202)]
)
def test_only_an_operator_token_or_above_may_post_alerts(
    api: Api, tokens: Tokens, runtime: Runtime, token: str | None, status: int
) -> None:
    bearer = getattr(tokens, token, token) if token else None

    answer = api.post(PATH, bearer, json=delivery(alert(service="billing")))

    assert answer.status_code == status, answer.text
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_a_signed_delivery_is_accepted_once(serve: Serve, signed_runtime: Runtime) -> None:
    api = serve(signed_runtime)
    body = json.dumps(delivery(alert(service="billing"))).encode()
    header = sign(SECRET.encode(), body, int(time.time()))

    first = post_signed(api, body, header)
    replayed = post_signed(api, body, header)

    assert first.status_code == 202, first.text
    assert replayed.status_code == 401
    assert "accepted before: a replay is refused" in replayed.json()["error"]
    with signed_runtime.store.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "alert.ignored")
        ).one()
        assert entry.actor == "alertmanager:signed"


@pytest.mark.parametrize(
    ("make_header", "said"),
    [
        (lambda b, now: sign(b"another secret", b, now), "does not match the body"),
        (lambda b, now: sign(SECRET.encode(), b, now - 310), "more than 300s from the server"),
        (lambda b, now: sign(SECRET.encode(), b, now + 310), "more than 300s from the server"),
        (lambda b, now: sign(SECRET.encode(), b + b" ", now), "does not match the body"),
        (lambda b, now: f"t={now}", "malformed"),
        (lambda b, now: "v1=abc", "malformed"),
    ],
    ids=["wrong-secret", "stale", "future", "body-changed", "no-signature", "no-time"],
)
def test_a_bad_signature_is_refused(
    serve: Serve, signed_runtime: Runtime, make_header: Any, said: str
) -> None:
    api = serve(signed_runtime)
    body = json.dumps(delivery(alert())).encode()

    answer = post_signed(api, body, make_header(body, int(time.time())))

    assert answer.status_code == 401, answer.text
    assert said in answer.json()["error"]
    assert runs_of(signed_runtime) == []


def test_signatures_are_refused_when_no_secret_is_configured(api: Api, runtime: Runtime) -> None:
    body = json.dumps(delivery(alert())).encode()

    answer = post_signed(api, body, sign(SECRET.encode(), body, int(time.time())))

    assert answer.status_code == 401
    assert "signed deliveries are not accepted here" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 422),
        (json.dumps({**delivery(alert()), "version": "3"}).encode(), 422),
        (json.dumps(delivery(*[alert()] * 101)).encode(), 422),
        (json.dumps(delivery(alert(status="pending"))).encode(), 422),
        (json.dumps({"version": "4"}).encode(), 422),
        (json.dumps(delivery(alert(note="x" * 70_000))).encode(), 413),
    ],
    ids=["not-json", "version-3", "101-alerts", "bad-status", "no-alerts", "too-large"],
)
def test_a_bad_body_is_refused(
    api: Api, tokens: Tokens, runtime: Runtime, body: bytes, status: int
) -> None:
    headers = {"Authorization": f"Bearer {tokens.operator}", "Content-Type": "application/json"}

    answer = api.client.post(PATH, content=body, headers=headers)

    assert answer.status_code == status, answer.text
    assert runs_of(runtime) == []
