"""What a notification says: the incident's facts, put through the rule's Jinja2 template.

Templates run in Jinja2's sandboxed environment (a template is config, but it is shown what
backout knows of an incident, and should reach nothing else). A template that fails when it is
rendered never stops the event that caused it: the message says so and carries the event's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from backout.incidents import time_to_detect, time_to_recover
from backout.redact import redact

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from backout.config.notifications import NotificationRule
    from backout.store import Incident

DEFAULT_TITLES = {
    "detected": "[{{ service }}] incident {{ incident_id }}: {{ title }}",
    "rollback_started": "[{{ service }}] {{ 'rollback' if awaiting_approval else 'rolling back' }}"
    "{% if from_version %} {{ from_version }}{% endif %}{% if to_version %} to {{ to_version }}"
    "{% endif %}{{ ' awaits approval' if awaiting_approval else '' }}",
    "rollback_finished": "[{{ service }}] {{ event }}",
    "resolved": "[{{ service }}] resolved: incident {{ incident_id }}",
    "report_reminder": "[{{ service }}] the report of incident {{ incident_id }} is due",
    "outage": "[{{ service }}] outage ongoing for {{ elapsed }}",
}
DEFAULT_BODY = (
    "{{ event }}\n"
    "Incident {{ incident_id }} of {{ service }}: {{ title }} ({{ status }}).\n"
    "Detected {{ detected_at }}{% if elapsed %}; the outage {{ 'lasted' if recovered_at"
    " else 'has lasted' }} {{ elapsed }}{% endif %}."
    "{% for o in objectives %}\n{{ o.name }}: {{ o.measured }} against {{ o.objective }}"
    " ({{ 'met' if o.met else 'missed' }}){% endfor %}"
    "{% if rto_missed and not recovered_at %}\nNot recovered within its RTO of {{ rto }}: missed."
    "{% endif %}"
    "{% if url %}\n{{ url }}{% endif %}"
)


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def human(seconds: float | None) -> str | None:
    """4m 12s, 1h 05m, 40s."""
    if seconds is None:
        return None
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def incident_facts(
    incident: Incident,
    *,
    now: datetime,
    event: str,
    versions: tuple[str | None, str | None] = (None, None),
    url: str | None = None,
    awaiting_approval: bool = False,
) -> dict[str, Any]:
    """What a template may say of an incident: its service, title, status, times, durations,
    the objectives met or missed so far, the versions a run moves between."""
    started = incident.impact_started_at or incident.detected_at
    ended = incident.resolved_at or incident.recovered_at or now
    objectives = _objectives(incident)
    return {
        "incident_id": incident.id,
        "service": incident.service,
        "environment": incident.environment,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "detected_at": _when(incident.detected_at),
        "impact_started_at": _when(incident.impact_started_at),
        "recovered_at": _when(incident.recovered_at),
        "resolved_at": _when(incident.resolved_at),
        "elapsed": human((ended - started).total_seconds()),
        "elapsed_s": (ended - started).total_seconds(),
        "time_to_detect": human(time_to_detect(incident)),
        "time_to_recover": human(time_to_recover(incident)),
        "rto": human(incident.rto_s),
        "rto_missed": _rto_missed(incident, now),
        "objectives": objectives,
        "from_version": versions[0],
        "to_version": versions[1],
        "event": event,
        "url": url,
        "awaiting_approval": awaiting_approval,
    }


def _rto_missed(incident: Incident, now: datetime) -> bool:
    """Whether the recovery came (or has not come by `now`) later than the RTO after detection,
    as incidents/objectives.py judges time_to_recover."""
    recovered = incident.recovered_at or now
    return (recovered - incident.detected_at).total_seconds() > incident.rto_s


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else None


def _objectives(incident: Incident) -> list[dict[str, Any]]:
    """The objectives measured so far: recovery against the RTO, the data-loss window against
    the RPO (where a restore measured one)."""
    found = []
    recovered = time_to_recover(incident)
    if recovered is not None:
        found.append(_objective("time to recover", incident.rto_s, recovered))
    if incident.rpo_s is not None and incident.rpo_objective_s is not None:
        found.append(_objective("data loss", incident.rpo_objective_s, incident.rpo_s))
    return found


def _objective(name: str, objective_s: float, measured_s: float) -> dict[str, Any]:
    return {
        "name": name,
        "objective_s": objective_s,
        "measured_s": measured_s,
        "objective": human(objective_s),
        "measured": human(measured_s),
        "met": measured_s <= objective_s,
    }


@cache
def _environment() -> SandboxedEnvironment:
    # Imported here: Jinja2 is loaded by the first notification, not by every command.
    from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415

    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def compose(rule: NotificationRule, facts: dict[str, Any], where: str) -> Message:
    """The rule's title and body with `facts`; `where` (the rule's key path) is named if a
    template fails."""
    kind = "outage" if rule.outage_longer_than is not None else str(rule.when)
    title = _render(rule.title or DEFAULT_TITLES[kind], facts, f"{where}.title")
    body = _render(rule.template or DEFAULT_BODY, facts, f"{where}.template")
    return Message(title=redact(title.strip())[:500], body=redact(body.strip()))


def _render(template: str, facts: dict[str, Any], where: str) -> str:
    try:
        return _environment().from_string(template).render(**facts)
    except Exception as error:
        return f"{facts.get('event', '')} ({where} failed: {type(error).__name__}: {error})"
