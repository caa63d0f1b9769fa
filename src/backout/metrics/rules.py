"""Trigger rules: a metric above a threshold, or above a factor of its baseline, held for a time.

Pure: a rule is judged on a snapshot and a baseline handed in. Which baseline, which source, and
for how long the rules stay armed is backout.triggers' business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backout.config import TriggerRule
from backout.durations import format_duration
from backout.metrics.base import MetricCatalogue, MetricsSnapshot


@dataclass(frozen=True)
class RuleVerdict:
    rule: TriggerRule
    catalogue: MetricCatalogue  # of the source the rule read: says how its values read
    value: float | None
    threshold: float | None
    held_s: float
    firing: bool
    note: str = ""  # why the rule could not be evaluated, when it could not

    @property
    def breached(self) -> bool:
        return self.value is not None and self.threshold is not None and self.value > self.threshold

    def sentence(self) -> str:
        """'error rate 12.0% > 5.0% for 2.1s' — what the incident and the watch loop say."""
        metric, catalogue = self.rule.metric, self.catalogue
        label = catalogue.label(metric)
        if self.value is None or self.threshold is None:
            return f"{label}: {self.note}"
        relation = ">" if self.breached else "≤"
        value = catalogue.show(metric, self.value)
        threshold = catalogue.show(metric, self.threshold)
        text = f"{label} {value} {relation} {threshold}"
        if self.rule.above_baseline is not None:
            text += f" ({self.rule.above_baseline:g}x baseline)"
        if self.breached:
            text += f" for {self.held_s:.1f}s"
            if not self.firing:
                text += f" of {format_duration(self.rule.hold)}"
        return text


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
    """Remembers since when each rule has been breached; fires it once held for its `for`."""

    def __init__(self, rules: list[TriggerRule], monotonic: Callable[[], float]) -> None:
        self.rules = rules
        self._monotonic = monotonic
        self._breached_since: dict[int, float] = {}

    def reset(self) -> None:
        self._breached_since.clear()

    def evaluate(
        self, snapshot: MetricsSnapshot, baseline: Mapping[str, Any] | None
    ) -> list[RuleVerdict]:
        now = self._monotonic()
        return [
            self._evaluate(i, rule, snapshot, baseline, now) for i, rule in enumerate(self.rules)
        ]

    def _evaluate(
        self,
        index: int,
        rule: TriggerRule,
        snapshot: MetricsSnapshot,
        baseline: Mapping[str, Any] | None,
        now: float,
    ) -> RuleVerdict:
        catalogue = snapshot.catalogue
        value = snapshot.value(rule.metric)
        threshold, note = self._threshold(rule, baseline)
        if value is None and not note:
            measured = snapshot.samples == 0 or rule.metric in snapshot.values
            note = f"not enough samples yet ({snapshot.samples})" if measured else "not measured"
        if value is None or threshold is None or value <= threshold:
            self._breached_since.pop(index, None)
            return RuleVerdict(rule, catalogue, value, threshold, 0.0, firing=False, note=note)
        since = self._breached_since.setdefault(index, now)
        held = now - since
        firing = held >= rule.hold.total_seconds()
        return RuleVerdict(rule, catalogue, value, threshold, held, firing=firing)

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
