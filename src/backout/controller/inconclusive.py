"""Readings that could not be judged: shown in the decision, counted, alerted after a limit.

A reading is inconclusive when a rule could not judge its metric for a reason on the source's
side (it cannot be read, no samples, too little traffic). It never rolls back by itself; but a
watch loop that has been blind for `watch.inconclusive_alert_after` readings in a row says so
loudly, once per blind spell: a warning in the log, an audit entry with the evidence, and a
line on the service's open incident if it has one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from backout.audit import audit
from backout.incidents import EventKind, add_event, open_incident_for
from backout.metrics import RuleVerdict

log = logging.getLogger(__name__)


def blind(verdicts: list[RuleVerdict]) -> list[RuleVerdict]:
    """The verdicts inconclusive for a reason on the source's side."""
    return [v for v in verdicts if v.blind]


@dataclass
class InconclusiveCounter:
    """Consecutive inconclusive readings per service, and whether this spell was alerted."""

    limit: int
    _counts: dict[str, int] = field(default_factory=dict)
    _alerted: set[str] = field(default_factory=set)

    def count(self, service: str, verdicts: list[RuleVerdict]) -> int:
        """Count this reading; 0 when it was conclusive (which ends a spell)."""
        if not blind(verdicts):
            self.forget(service)
            return 0
        self._counts[service] = self._counts.get(service, 0) + 1
        return self._counts[service]

    def due(self, service: str) -> bool:
        """Whether the spell reached the limit and is not alerted yet."""
        return self._counts.get(service, 0) >= self.limit and service not in self._alerted

    def alerted(self, service: str) -> None:
        self._alerted.add(service)

    def forget(self, service: str) -> None:
        self._counts.pop(service, None)
        self._alerted.discard(service)


def raise_alert(
    session: Session,
    environment: str,
    service: str,
    readings: int,
    verdicts: list[RuleVerdict],
    *,
    actor: str,
) -> str:
    """Say that the triggers of `service` have been blind for `readings` readings in a row."""
    reasons = "; ".join(dict.fromkeys(v.sentence() for v in blind(verdicts)))
    message = (
        f"triggers of {service} inconclusive for {readings} readings in a row ({reasons}): "
        "backout cannot tell whether the release is healthy"
    )
    evidence = [v.evidence() for v in verdicts]
    log.warning("ALERT: %s", message)
    audit(session, actor, "triggers_inconclusive", service, readings=readings, evidence=evidence)
    incident = open_incident_for(session, environment, service)
    if incident is not None:
        add_event(
            session,
            incident.id,
            EventKind.TRIGGER_INCONCLUSIVE,
            message,
            actor=actor,
            evidence=evidence,
        )
    return message
