"""Alerts from outside (Alertmanager's webhook): each one a trigger for the service it names.

A firing alert for a configured service fires an outside trigger (outside_triggers.py) with the
alert as evidence: its labels, annotations and startsAt go on the timeline (ALERT_FIRED). A
resolved alert adds ALERT_RESOLVED to the service's open incident and changes nothing else:
backout's own checks say when the service has recovered. An alert backout cannot act on (no
service label, a service not in the config) is recorded in the audit log and answered with why
— the sender must not retry it forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backout.audit import audit
from backout.categories import IncidentCategory
from backout.config import AlertSettings
from backout.incidents import EventKind, add_event, open_incident_for
from backout.operations.outside_triggers import OutsideTrigger, TriggerOutcome, fire
from backout.runtime import Runtime

IGNORED = "ignored"  # the `action` of an alert backout could not act on
RECORDED = "recorded"  # the `action` of a resolved alert written on its incident
NO_INCIDENT = "no_incident"  # the `action` of a resolved alert with no open incident


@dataclass(frozen=True)
class Alert:
    """One alert of a delivery, as Alertmanager's webhook (version 4) sends it."""

    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None
    fingerprint: str | None = None
    generator_url: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "(unnamed alert)")

    def evidence(self) -> dict[str, Any]:
        """What the timeline keeps of it: enough for a person to find the rule that fired."""
        return {
            "source": "alertmanager",
            "alertname": self.name,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "fingerprint": self.fingerprint,
            "generator_url": self.generator_url,
        }


@dataclass(frozen=True)
class AlertOutcome:
    """What backout did with one alert."""

    alert: str
    service: str | None
    action: str  # an outside_triggers.Action, or IGNORED / RECORDED / NO_INCIDENT
    sentence: str
    incident_id: int | None = None
    run_id: int | None = None
    trigger: TriggerOutcome | None = None  # for a firing alert: its run's handle


def receive_alerts(runtime: Runtime, alerts: list[Alert], *, actor: str) -> list[AlertOutcome]:
    """Act on each alert of a delivery, in order (a second alert of a service joins the
    incident the first one opened)."""
    return [_receive(runtime, alert, actor) for alert in alerts]


def _receive(runtime: Runtime, alert: Alert, actor: str) -> AlertOutcome:
    settings = runtime.config.alerts
    service = alert.labels.get(settings.service_label)
    if service is None or service not in runtime.config.services:
        return _ignore(runtime, alert, service, actor)
    if alert.status == "resolved":
        return _resolved(runtime, alert, service, actor)
    category, note = _category(settings, alert)
    summary = f"alert {alert.name} firing"
    described = alert.annotations.get("summary") or alert.annotations.get("description")
    if described:
        summary += f": {described}"
    trigger = OutsideTrigger(
        service=service,
        category=category,
        name=f"alertmanager:{alert.name}",
        summary=summary + note,
        evidence=[alert.evidence()],
        event=EventKind.ALERT_FIRED,
    )
    outcome = fire(runtime, trigger, actor=actor)
    return AlertOutcome(
        alert.name,
        service,
        outcome.action,
        outcome.sentence,
        outcome.incident_id,
        outcome.run_id,
        outcome,
    )


def _category(settings: AlertSettings, alert: Alert) -> tuple[IncidentCategory, str]:
    """The alert's category, and a note when its label names none backout knows."""
    value = alert.labels.get(settings.category_label)
    if value is None:
        return settings.default_category, ""
    try:
        return IncidentCategory(value), ""
    except ValueError:
        default = settings.default_category
        return default, f" (unknown {settings.category_label} {value[:40]!r}: taken as {default})"


def _resolved(runtime: Runtime, alert: Alert, service: str, actor: str) -> AlertOutcome:
    with runtime.store.session() as session:
        incident = open_incident_for(session, runtime.environment, service)
        if incident is None:
            sentence = f"{service}: alert {alert.name} resolved; no open incident to record it on"
            return AlertOutcome(alert.name, service, NO_INCIDENT, sentence)
        sentence = f"{service}: alert {alert.name} resolved"
        add_event(
            session,
            incident.id,
            EventKind.ALERT_RESOLVED,
            sentence,
            actor=actor,
            evidence=[alert.evidence()],
        )
    return AlertOutcome(
        alert.name, service, RECORDED, f"{sentence} (incident {incident.id})", incident.id
    )


def _ignore(runtime: Runtime, alert: Alert, service: str | None, actor: str) -> AlertOutcome:
    label = runtime.config.alerts.service_label
    if service is None:
        why = f"alert {alert.name} has no {label!r} label naming a service: nothing done"
    else:
        known = ", ".join(sorted(runtime.config.services)) or "(none)"
        why = f"alert {alert.name} names service {service[:128]!r}, not configured ({known})"
        why += ": nothing done"
    with runtime.store.session() as session:
        target = (service or "(none)")[:128]
        audit(session, actor, "alert.ignored", target, why=why, alert=alert.evidence())
    return AlertOutcome(alert.name, service, IGNORED, why)
