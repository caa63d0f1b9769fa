"""An incident measured against its objectives: time to detect, decide, recover and resolve,
and the data-loss window of a restore.

One budget runs through them: the RTO of the service's tier (the incident keeps the one it was
opened with). Detection counts from the moment the impact started (the bad release went live);
every later milestone counts from detection — each must fall within the RTO for the recovery
to. Resolution comes after the monitoring window, so its budget is the RTO plus that window.
The data-loss window, where a database was restored, is held to the RPO of its data class.

`met` is True or False once a milestone is reached; before it, None (not yet known) — or False
already when more time has passed than the objective allows. Pure functions: the caller gives
the moments and `now`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from backout.incidents.events import EventKind


@dataclass(frozen=True)
class IncidentClock:
    """The moments and budgets an incident is measured with (aware datetimes)."""

    detected_at: datetime
    rto_s: float
    impact_started_at: datetime | None = None
    decision_asked: bool = False  # a gated step waited for a person's approval
    decided_at: datetime | None = None  # that approval
    recovered_at: datetime | None = None
    resolved_at: datetime | None = None
    monitor_s: float | None = None  # the service's monitoring window, when known
    data_loss_s: float | None = None  # a restore's data-loss window, as achieved
    rpo_objective_s: float | None = None  # set when a database was restored


@dataclass(frozen=True)
class Objective:
    name: str
    basis: str  # what the objective is: "RTO", "RTO + monitoring window", "RPO"
    objective_s: float | None
    measured_s: float | None
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_Span = tuple[str, str, datetime | None, datetime | None, float | None]
"""name, basis, from, to (None: not reached yet), objective (None: none known)."""


def measure(clock: IncidentClock, now: datetime) -> list[Objective]:
    """Every objective that applies to the incident, in the order of its life."""
    rto, detected = clock.rto_s, clock.detected_at
    spans: list[_Span] = [("time_to_detect", "RTO", clock.impact_started_at, detected, rto)]
    if clock.decision_asked:
        spans.append(("time_to_decide", "RTO", detected, clock.decided_at, rto))
    spans.append(("time_to_recover", "RTO", detected, clock.recovered_at, rto))
    resolve_budget = None if clock.monitor_s is None else rto + clock.monitor_s
    basis = "RTO + monitoring window"
    spans.append(("time_to_resolve", basis, detected, clock.resolved_at, resolve_budget))
    measured = [_span(*span, now=now) for span in spans]
    if clock.rpo_objective_s is not None:
        measured.append(_data_loss(clock.data_loss_s, clock.rpo_objective_s))
    return measured


def _span(
    name: str,
    basis: str,
    start: datetime | None,
    end: datetime | None,
    objective: float | None,
    *,
    now: datetime,
) -> Objective:
    """From `start` to `end`; a milestone not reached yet is missed already once more time has
    passed than its objective allows."""
    if start is None:
        return Objective(name, basis, objective, None, None)
    if end is None:
        late = objective is not None and (now - start).total_seconds() > objective
        return Objective(name, basis, objective, None, False if late else None)
    measured = (end - start).total_seconds()
    return Objective(
        name, basis, objective, measured, None if objective is None else measured <= objective
    )


def _data_loss(window_s: float | None, objective_s: float) -> Objective:
    met = None if window_s is None else window_s <= objective_s
    return Objective("data_loss_window", "RPO", objective_s, window_s, met)


def decision_moments(events: Iterable[tuple[str, datetime]]) -> tuple[bool, datetime | None]:
    """From the timeline's (kind, at): whether a gate asked for approval, and the first
    approval."""
    asked, approved = False, None
    for kind, at in events:
        asked = asked or kind == EventKind.AWAITING_APPROVAL
        if kind == EventKind.APPROVED and approved is None:
            approved = at
    return asked, approved
