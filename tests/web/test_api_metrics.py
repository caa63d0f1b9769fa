"""GET /metrics: backout's own metrics in Prometheus's format — runs by kind and state and the
incidents' time to detect and recover, read from the store at scrape time (any process's), and
the watch loop's trigger readings by outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from web_support import Api, Tokens

from backout.operations.own_metrics import count_reading
from backout.runtime import Runtime
from backout.store import Incident, Run, utcnow


def scrape(api: Api, token: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample by name, then by its sorted labels."""
    answer = api.get("/metrics", token)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def add_incident(runtime: Runtime, service: str, detect_s: float, recover_s: float | None) -> None:
    """An incident another process wrote: detected `detect_s` after its release went live."""
    detected = utcnow()
    with runtime.store.session() as session:
        session.add(
            Incident(
                environment=runtime.environment,
                service=service,
                title="t",
                severity="critical",
                status="resolved",
                rto_s=900.0,
                impact_started_at=detected - timedelta(seconds=detect_s),
                detected_at=detected,
                recovered_at=detected + timedelta(seconds=recover_s) if recover_s else None,
            )
        )
        for kind, state in (
            ("application", "succeeded"),
            ("application", "failed"),
            ("application", "succeeded"),
            ("database", "running"),
        ):
            session.add(
                Run(
                    environment=runtime.environment,
                    kind=kind,
                    service=service,
                    reason="r",
                    state=state,
                    actor="other-process",
                )
            )


def test_metrics_need_a_token(api: Api) -> None:
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", "bk_not-a-token").status_code == 401


def test_runs_and_incidents_are_read_from_the_store_at_scrape_time(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    before = scrape(api, tokens.viewer)
    assert before["backout_time_to_detect_seconds_count"][()] == 0

    add_incident(runtime, "api", detect_s=1.5, recover_s=100)
    add_incident(runtime, "worker", detect_s=40, recover_s=None)
    after = scrape(api, tokens.viewer)

    runs = after["backout_runs"]
    assert runs[(("kind", "application"), ("state", "succeeded"))] == 4
    assert runs[(("kind", "application"), ("state", "failed"))] == 2
    assert runs[(("kind", "database"), ("state", "running"))] == 2
    detect = after["backout_time_to_detect_seconds_bucket"]
    assert detect[(("le", "1.0"),)] == 0
    assert detect[(("le", "2.0"),)] == 1
    assert detect[(("le", "60.0"),)] == 2
    assert detect[(("le", "+Inf"),)] == 2
    assert after["backout_time_to_detect_seconds_sum"][()] == pytest.approx(41.5)
    assert after["backout_time_to_recover_seconds_count"][()] == 1  # one recovered
    assert after["backout_time_to_recover_seconds_bucket"][(("le", "60.0"),)] == 0
    assert after["backout_time_to_recover_seconds_bucket"][(("le", "120.0"),)] == 1


def test_trigger_readings_are_counted_by_service_and_outcome(api: Api, tokens: Tokens) -> None:
    for outcome in ("quiet", "quiet", "breached", "fired", "inconclusive"):
        count_reading("metrics-test", outcome)

    readings = scrape(api, tokens.viewer)["backout_trigger_readings_total"]

    mine = {
        dict(k)["outcome"]: v for k, v in readings.items() if dict(k)["service"] == "metrics-test"
    }
    assert mine == {"quiet": 2, "breached": 1, "fired": 1, "inconclusive": 1}


def test_an_unknown_outcome_is_a_bug_not_a_new_label() -> None:
    with pytest.raises(ValueError, match="outcome must be one of quiet, breached, fired"):
        count_reading("api", "maybe")  # type: ignore[arg-type]
