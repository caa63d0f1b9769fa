"""Trigger rules: a metric above a threshold, or above a factor of its baseline, held for a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backout.config import TriggerRule
from backout.durations import format_duration
from backout.metrics.base import MetricsSnapshot

BASELINE_METRICS = ("error_rate", "latency_p50", "latency_p95", "latency_p99", "request_rate")


def _show(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value:.1%}"
    if metric.startswith("latency"):
        return f"{value * 1000:.0f}ms"
    return f"{value:.1f}/s"


def _label(metric: str) -> str:
    return metric.replace("_", " ").replace("latency p", "p")


@dataclass(frozen=True)
class RuleVerdict:
    rule: TriggerRule
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
        metric = self.rule.metric
        if self.value is None or self.threshold is None:
            return f"{_label(metric)}: {self.note}"
        relation = ">" if self.breached else "≤"
        value, threshold = _show(metric, self.value), _show(metric, self.threshold)
        text = f"{_label(metric)} {value} {relation} {threshold}"
        if self.rule.above_baseline is not None:
            text += f" ({self.rule.above_baseline:g}x baseline)"
        if self.breached:
            text += f" for {self.held_s:.1f}s"
            if not self.firing:
                text += f" of {format_duration(self.rule.hold)}"
        return text


def measure_baseline(snapshot: MetricsSnapshot) -> dict[str, float]:
    """The metrics a release showed while it baked, kept on the release for later comparison."""
    baseline: dict[str, float] = {}
    for metric in BASELINE_METRICS:
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
        self, snapshot: MetricsSnapshot, baseline: dict[str, Any] | None
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
        baseline: dict[str, Any] | None,
        now: float,
    ) -> RuleVerdict:
        value = snapshot.value(rule.metric)
        threshold, note = self._threshold(rule, baseline)
        if value is None and not note:
            note = f"not enough samples yet ({snapshot.samples})"
        if value is None or threshold is None or value <= threshold:
            self._breached_since.pop(index, None)
            return RuleVerdict(rule, value, threshold, 0.0, firing=False, note=note)
        since = self._breached_since.setdefault(index, now)
        held = now - since
        return RuleVerdict(rule, value, threshold, held, firing=held >= rule.hold.total_seconds())

    @staticmethod
    def _threshold(rule: TriggerRule, baseline: dict[str, Any] | None) -> tuple[float | None, str]:
        if rule.above is not None:
            return rule.above, ""
        assert rule.above_baseline is not None  # the config validator guarantees one of them
        base = (baseline or {}).get(rule.metric)
        if base is None:
            return None, "no baseline measured for the last known good release"
        return max(float(base), rule.baseline_floor) * rule.above_baseline, ""
