"""Trigger rules: a metric above a threshold, or above a factor of its baseline, held for a time.

Pure: a rule is judged on a snapshot and a baseline handed in. Which baseline, which source, and
for how long the rules stay armed is backout.triggers' business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backout.categories import IncidentCategory
from backout.config import TriggerRule
from backout.durations import format_duration
from backout.metrics.base import MetricCatalogue, MetricsSnapshot


@dataclass(frozen=True)
class RuleVerdict:
    """One rule's judgement of one measurement.

    Quiet, breached (held for less than its `for` or its `failures`), firing, or inconclusive:
    nothing to judge (the source cannot be read, no data, fewer samples than `min_samples`, no
    baseline). Inconclusive is never a breach: it neither fires nor counts towards firing.
    """

    rule: TriggerRule
    catalogue: MetricCatalogue  # of the source the rule read: says how its values read
    value: float | None
    threshold: float | None
    held_s: float
    firing: bool
    note: str = ""  # why the measurement is inconclusive, when it is
    samples: int = 0
    failures: int = 0  # consecutive breaching measurements so far
    window_s: float = 0.0
    measured_by: str = ""
    # Inconclusive for a reason on the source's side (unreadable, no samples, too little
    # traffic) rather than for a missing baseline, which is expected until a release is good.
    blind: bool = False

    @property
    def inconclusive(self) -> bool:
        return bool(self.note)

    @property
    def breached(self) -> bool:
        if self.inconclusive or self.value is None or self.threshold is None:
            return False
        return self.value > self.threshold

    @property
    def category(self) -> IncidentCategory:
        """What an incident this rule opens is about."""
        return self.rule.category or self.catalogue.category(self.rule.metric)

    def sentence(self) -> str:
        """'error rate 12.0% > 5.0% for 2.1s' — what the incident and the watch loop say."""
        metric, catalogue = self.rule.metric, self.catalogue
        label = catalogue.label(metric)
        if self.value is None or self.threshold is None:
            return f"{label}: {self.note}"
        if self.inconclusive:
            return f"{label} {catalogue.show(metric, self.value)}: {self.note}"
        relation = ">" if self.breached else "≤"
        value = catalogue.show(metric, self.value)
        threshold = catalogue.show(metric, self.threshold)
        text = f"{label} {value} {relation} {threshold}"
        if self.rule.above_baseline is not None:
            text += f" ({self.rule.above_baseline:g}x baseline)"
        if self.breached:
            text += self._held()
        return text

    def _held(self) -> str:
        needed = self.rule.failures
        if needed is not None:
            if self.failures > needed:  # still breached after it fired: "2 of 1" would puzzle
                return f" in {self.failures} measurements in a row ({needed} fire it)"
            return f" in {self.failures} of {needed} measurements in a row"
        text = f" for {self.held_s:.1f}s"
        return text if self.firing else f"{text} of {format_duration(self.rule.hold)}"

    def evidence(self) -> dict[str, Any]:
        """The measurement behind the verdict, as kept on the incident's timeline."""
        state = "firing" if self.firing else "breached" if self.breached else "quiet"
        return {
            "rule": self.rule.name,
            "metric": self.rule.metric,
            "state": "inconclusive" if self.inconclusive else state,
            "value": self.value,
            "threshold": self.threshold,
            "above_baseline": self.rule.above_baseline,
            "samples": self.samples,
            "min_samples": self.rule.min_samples,
            "window_s": round(self.window_s, 3),
            "held_s": round(self.held_s, 3),
            "failures": self.failures,
            "measured_by": self.measured_by,
            "note": self.note,
            "sentence": self.sentence(),
        }


def back_under(rule: TriggerRule, catalogue: MetricCatalogue) -> str:
    """'error rate back under 5%': what a quiet trigger says of its threshold."""
    label = catalogue.label(rule.metric)
    if rule.above is None:
        return f"{label} back under {rule.above_baseline:g}x its baseline"
    return f"{label} back under {catalogue.show(rule.metric, rule.above, exact=True)}"


def measure_baseline(snapshot: MetricsSnapshot) -> dict[str, float]:
    """Every metric a release showed while it baked, kept on the release for later comparison."""
    baseline: dict[str, float] = {}
    for metric in snapshot.values:
        value = snapshot.value(metric)
        if value is not None:
            baseline[metric] = value
    return baseline


class TriggerEvaluator:
    """Remembers since when, and for how many measurements, each rule has been breached; fires
    it once held for its `for` (or its `failures`). A rule with an `interval` is measured at
    most that often: in between, its last verdict stands."""

    def __init__(self, rules: list[TriggerRule], monotonic: Callable[[], float]) -> None:
        self.rules = rules
        self._monotonic = monotonic
        self._breached_since: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._last: dict[int, tuple[float, RuleVerdict]] = {}

    def reset(self) -> None:
        self._breached_since.clear()
        self._failures.clear()
        self._last.clear()

    def evaluate(
        self, snapshot: MetricsSnapshot, baseline: Mapping[str, Any] | None
    ) -> list[RuleVerdict]:
        now = self._monotonic()
        return [
            self._measure(i, rule, snapshot, baseline, now) for i, rule in enumerate(self.rules)
        ]

    def _measure(
        self,
        index: int,
        rule: TriggerRule,
        snapshot: MetricsSnapshot,
        baseline: Mapping[str, Any] | None,
        now: float,
    ) -> RuleVerdict:
        last = self._last.get(index)
        if last is not None and rule.interval is not None:
            measured_at, verdict = last
            if now - measured_at < rule.interval.total_seconds():
                return verdict
        verdict = self._evaluate(index, rule, snapshot, baseline, now)
        self._last[index] = (now, verdict)
        return verdict

    def _evaluate(
        self,
        index: int,
        rule: TriggerRule,
        snapshot: MetricsSnapshot,
        baseline: Mapping[str, Any] | None,
        now: float,
    ) -> RuleVerdict:
        source = snapshot.source_of(rule.metric)
        measured_by = source.measured_by.get(rule.metric, "")
        value = snapshot.value(rule.metric)
        threshold, note = self._threshold(rule, baseline)
        blind = _inconclusive(rule, source, value)
        note = blind or note
        if note or value is None or threshold is None or value <= threshold:
            # An inconclusive measurement restarts the count too: a breach must be seen whole.
            self._breached_since.pop(index, None)
            self._failures.pop(index, None)
            return RuleVerdict(
                rule,
                source.catalogue,
                value,
                threshold,
                0.0,
                firing=False,
                note=note,
                blind=bool(blind),
                samples=source.samples,
                window_s=source.window_s,
                measured_by=measured_by,
            )
        since = self._breached_since.setdefault(index, now)
        failures = self._failures[index] = self._failures.get(index, 0) + 1
        held = now - since
        if rule.failures is not None:
            firing = failures >= rule.failures
        else:
            firing = held >= rule.hold.total_seconds()
        return RuleVerdict(
            rule,
            source.catalogue,
            value,
            threshold,
            held,
            firing=firing,
            samples=source.samples,
            failures=failures,
            window_s=source.window_s,
            measured_by=measured_by,
        )

    @staticmethod
    def _threshold(
        rule: TriggerRule, baseline: Mapping[str, Any] | None
    ) -> tuple[float | None, str]:
        if rule.above is not None:
            return rule.above, ""
        assert rule.above_baseline is not None  # the config validator guarantees one of them
        base = (baseline or {}).get(rule.metric)
        if base is None:
            return None, "no baseline measured for the last known good release"
        return max(float(base), rule.baseline_floor) * rule.above_baseline, ""


def _inconclusive(rule: TriggerRule, source: MetricsSnapshot, value: float | None) -> str:
    """Why a measurement cannot be judged ('' when it can)."""
    if source.problem is not None:
        return f"cannot read the source: {source.problem}"
    if source.samples == 0:
        return "no samples yet"
    if source.samples < rule.min_samples:
        noun = source.catalogue.sample_noun
        return f"too little traffic: {source.samples} {noun}, at least {rule.min_samples} needed"
    if value is None:
        measured = rule.metric in source.values
        return f"not enough samples yet ({source.samples})" if measured else "not measured"
    return ""
