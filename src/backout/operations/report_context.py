"""What a post-incident report says, as one mapping both its templates (Markdown and HTML)
render: the summary, the impact, the timeline, the figures against the objectives, the
checklist, and the sections people wrote.

Everything here is read from the incident's detail (operations/views.incident_detail) and its
written sections; nothing is measured again, so the report says what the timeline recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from backout.incidents import EventKind

Detail = dict[str, Any]

# The events whose evidence is what the triggers (or an outside alert) saw when they fired.
_DETECTING_KINDS = frozenset(
    {EventKind.DETECTED, EventKind.TRIGGER_FIRED, EventKind.REOPENED, EventKind.ALERT_FIRED}
)
_SEEN_STATES = frozenset({"firing", "breached"})
SECTION_TITLES = {
    "root_cause": "Root cause",
    "lessons": "Lessons learned",
    "action_items": "Action items",
}


def report_context(
    detail: Detail,
    sections: dict[str, Any],
    *,
    project: str,
    affected_services: list[str],
    now: datetime,
) -> dict[str, Any]:
    """The mapping the report templates render (JSON types only, times as ISO text)."""
    impact = impact_of(detail, affected_services, now)
    return {
        "project": project,
        "incident": detail,
        "generated_at": now.isoformat(),
        "summary": summary_of(detail, impact),
        "impact": impact,
        "timeline": [timeline_line(event) for event in detail.get("timeline", [])],
        "objectives": [objective_line(o) for o in objectives_of(detail)],
        "checklist": checklist_of(detail),
        "sections": sections,
        "unwritten": [title for key, title in SECTION_TITLES.items() if not sections.get(key)],
    }


def objectives_of(detail: Detail) -> list[dict[str, Any]]:
    """Each objective `{name, objective_s, measured_s, met}` of the incident, as its detail
    measures them (incidents/objectives.py)."""
    return list(detail.get("objectives", []))


def objective_line(objective: dict[str, Any]) -> dict[str, Any]:
    met = objective.get("met")
    return {
        **objective,
        "label": str(objective.get("name", "")).replace("_", " "),  # time_to_recover: people read
        "objective": spoken(objective.get("objective_s")),
        "measured": spoken(objective.get("measured_s")),
        "verdict": "not measured" if met is None else "met" if met else "missed",
    }


def impact_of(detail: Detail, affected_services: list[str], now: datetime) -> dict[str, Any]:
    """How long users were hurt, where, and what the triggers saw while they were."""
    detected = _moment(detail.get("detected_at"))
    started = detected
    if detected is not None and detail.get("time_to_detect_s") is not None:
        started = detected - timedelta(seconds=detail["time_to_detect_s"])
    ended = _moment(detail.get("recovered_at")) or _moment(detail.get("resolved_at"))
    duration_s = None
    if started is not None:
        duration_s = ((ended or now) - started).total_seconds()
    measurements = seen_by_triggers(detail)
    failed = [m for m in measurements if m["requests_failed"] is not None]
    return {
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None,
        "ongoing": ended is None,
        "duration_s": duration_s,
        "duration": spoken(duration_s),
        "affected_services": affected_services,
        "measurements": measurements,
        "requests_failed": sum(m["requests_failed"] for m in failed) if failed else None,
        "requests_measured": sum(m["samples"] for m in failed) if failed else None,
    }


def seen_by_triggers(detail: Detail) -> list[dict[str, Any]]:
    """The measurements that fired or breached, from the evidence of the events that detected
    the incident: error rates, latencies, flows. For an error rate read over requests, the
    requests that failed in the window read (rate times requests)."""
    seen = []
    for event in detail.get("timeline", []):
        if event.get("kind") not in _DETECTING_KINDS:
            continue
        for measured in event.get("evidence") or []:
            if not isinstance(measured, dict) or measured.get("state") not in _SEEN_STATES:
                continue
            seen.append(_measurement(event, measured))
    return seen


def _measurement(event: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    value, samples = measured.get("value"), measured.get("samples")
    failed = None
    is_rate = str(measured.get("metric", "")).endswith("error_rate")
    if is_rate and isinstance(value, int | float) and isinstance(samples, int) and samples > 0:
        failed = round(value * samples)
    return {
        "at": event.get("at"),
        "metric": measured.get("metric"),
        "value": value,
        "threshold": measured.get("threshold"),
        "samples": samples,
        "window_s": measured.get("window_s"),
        "sentence": measured.get("sentence") or measured.get("metric"),
        "requests_failed": failed,
    }


def summary_of(detail: Detail, impact: dict[str, Any]) -> str:
    """One paragraph: what happened, how fast it was seen and undone, where it stands."""
    text = f"{detail['service']}: {detail['title']}."
    if detail.get("time_to_detect_s") is not None:
        text += f" Detected {spoken(detail['time_to_detect_s'])} after the release went live."
    if detail.get("time_to_recover_s") is not None:
        text += (
            f" Recovered {spoken(detail['time_to_recover_s'])} after detection "
            f"(RTO {spoken(detail.get('rto_s'))})."
        )
    elif impact["ongoing"]:
        text += " Not recovered yet."
    return text + f" Status: {detail['status']}."


def timeline_line(event: dict[str, Any]) -> dict[str, Any]:
    """`{at, kind, actor, text}` of one timeline event (its detail may call the text either
    `text` or `message`)."""
    return {
        "at": event.get("at"),
        "kind": event.get("kind"),
        "actor": event.get("actor"),
        "text": event.get("text") or event.get("message") or "",
    }


def checklist_of(detail: Detail) -> list[dict[str, Any]]:
    """Each checklist item of the incident (incidents/checklist.py) with who did it and how."""
    return [
        {
            "phase": item["phase"],
            "item": item["text"],
            "confirmed": item["done"],
            "by": item["by"],
            "at": item["at"],
            "how": item["how"],
        }
        for item in detail.get("checklist", [])
    ]


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def spoken(seconds: float | None) -> str:
    """'4m 12s', '1h 3m', '2.4s'; '-' when not measured."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"
