"""The trigger evaluator's sentences: what a person reads in the watch loop and the monitor step."""

from __future__ import annotations

from backout.config.services import TriggerRule
from backout.metrics.base import MetricsSnapshot
from backout.metrics.http import HTTP_METRICS
from backout.metrics.rules import TriggerEvaluator


def test_a_rule_still_breached_after_it_fired_says_how_many_in_a_row_fire_it() -> None:
    rule = TriggerRule(name="errors", metric="error_rate", above=0.05, failures=2, min_samples=1)
    evaluator = TriggerEvaluator([rule], monotonic=lambda: 0.0)
    failing = MetricsSnapshot({"error_rate": 0.5}, samples=100, window_s=30, catalogue=HTTP_METRICS)

    sentences = [evaluator.evaluate(failing, None)[0].sentence() for _ in range(3)]

    assert sentences[0].endswith("in 1 of 2 measurements in a row")
    assert sentences[1].endswith("in 2 of 2 measurements in a row")
    assert sentences[2].endswith("in 3 measurements in a row (2 fire it)"), sentences
