"""Armed triggers: a service's rules read against its metric source and its baseline.

The one piece that watches triggers, for the watch loop (one reading per cycle), the monitor
step and traffic holds after a rollback, and the holds of a flag ramp-down (readings until a
trigger fires or the time is up). The rules themselves are judged in metrics/rules.py.

The baseline a rule `above_baseline` compares with is always the same: the one recorded on the
service's last known good release (measured while it baked), read when the triggers are armed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backout import releases
from backout.metrics import MetricSource, MetricsSnapshot, RuleVerdict, TriggerEvaluator
from backout.runtime import Runtime

POLL_S = 0.1  # how often a hold reads the sources: a firing trigger is seen within this


@dataclass(frozen=True)
class Baseline:
    """What rules `above_baseline` compare with, and which release it was recorded on."""

    release_id: int | None = None
    values: Mapping[str, Any] | None = None


NO_BASELINE = Baseline()


def last_good_baseline(session: Session, environment: str, service: str) -> Baseline:
    """The baseline of the service's last known good release (none if none has one)."""
    good = releases.last_known_good(session, environment, service)
    if good is None:
        return NO_BASELINE
    return Baseline(good.id, dict(good.baseline) if good.baseline else None)


@dataclass(frozen=True)
class Reading:
    """One snapshot of a service's source, and each rule's verdict on it."""

    service: str
    snapshot: MetricsSnapshot
    verdicts: list[RuleVerdict]

    @property
    def firing(self) -> list[RuleVerdict]:
        return [v for v in self.verdicts if v.firing]

    @property
    def holding(self) -> list[RuleVerdict]:
        """Breached, not yet for as long as the rule's `for`."""
        return [v for v in self.verdicts if v.breached and not v.firing]


class ArmedTriggers:
    """A service's rules armed on its source: remembers since when each rule is breached."""

    def __init__(
        self,
        runtime: Runtime,
        service: str,
        source: MetricSource,
        baseline: Baseline,
        version: str | None = None,
    ) -> None:
        self.service = service
        self.source = source
        self.baseline = baseline
        self.version = version  # the live release's, for a source that selects by it
        rules = runtime.config.service(service).triggers
        self._evaluator = TriggerEvaluator(rules, runtime.clock.monotonic)
        self._history = runtime.metric_history

    def read(self, since: float | None) -> Reading:
        """Snapshot the source (only samples at or after `since`) and judge every rule."""
        snapshot = self.source.snapshot(since=since, version=self.version)
        verdicts = self._evaluator.evaluate(snapshot, self.baseline.values)
        self._history.note(self.service, {m: snapshot.value(m) for m in snapshot.values})
        return Reading(self.service, snapshot, verdicts)


def arm(
    runtime: Runtime, service: str, baseline: Baseline | None = None, version: str | None = None
) -> ArmedTriggers | None:
    """The triggers of `service` armed from now; None when it has no metric source.

    `baseline` and `version` (the live release's) are for a caller that read them already, in
    its own session; without a baseline, both are read from the store.
    """
    source = runtime.metrics(service) if service in runtime.config.services else None
    if source is None:
        return None
    if baseline is None:
        with runtime.store.session() as session:
            baseline = last_good_baseline(session, runtime.environment, service)
            live = releases.live(session, runtime.environment, service)
            version = live.version if live is not None else version
    return ArmedTriggers(runtime, service, source, baseline, version)


@dataclass(frozen=True)
class Held:
    """What a hold saw: the first reading with a firing trigger, or the last of each service."""

    started: datetime
    seconds: float
    watched: list[str]  # the services whose triggers were armed
    fired: Reading | None = None
    last: list[Reading] = field(default_factory=list)

    @property
    def idle(self) -> list[str]:
        """The watched services whose source took no sample during the hold."""
        return [r.service for r in self.last if r.snapshot.samples == 0]

    def summaries(self) -> list[str]:
        return [f"{r.service}: {r.snapshot.summary()}" for r in self.last]


def hold(runtime: Runtime, services: list[str], seconds: float) -> Held:
    """Keep the triggers of `services` armed for `seconds` from now; stop at the first firing.

    Only samples taken from now on count, so what came before the hold cannot fire it. A service
    without a metric source is not watched; with none watched, the hold only waits.
    """
    clock = runtime.clock
    started = clock.now()
    since = started.timestamp()
    armed = [a for a in (arm(runtime, service) for service in services) if a is not None]
    watched = [a.service for a in armed]
    end = clock.monotonic() + seconds
    if not armed:
        clock.sleep(max(end - clock.monotonic(), 0.0))
        return Held(started, seconds, watched)
    while True:
        readings = [a.read(since) for a in armed]
        fired = next((r for r in readings if r.firing), None)
        if fired is not None:
            return Held(started, seconds, watched, fired=fired, last=readings)
        if clock.monotonic() >= end:
            return Held(started, seconds, watched, last=readings)
        clock.sleep(POLL_S)
