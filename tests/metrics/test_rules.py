"""Trigger rules fire only when their condition has held for its `for`, and say why in words."""

from __future__ import annotations

from dataclasses import replace

from backout.clock import ManualClock
from backout.config import TriggerRule
from backout.metrics import TriggerEvaluator, measure_baseline
from backout.metrics.fake import HEALTHY

ERRORS = TriggerRule.model_validate(
    {"name": "errors", "metric": "error_rate", "above": 0.05, "for": "30s"}
)
SLOWER = TriggerRule.model_validate(
    {
        "name": "slower",
        "metric": "latency_p95",
        "above_baseline": 1.5,
        "baseline_floor": 0.02,
        "for": "10s",
    }
)
FAILING = HEALTHY.with_values(error_rate=0.12)


def test_a_breach_fires_only_once_held_for_its_duration() -> None:
    clock = ManualClock()
    evaluator = TriggerEvaluator([ERRORS], clock.monotonic)
    [first] = evaluator.evaluate(FAILING, None)
    assert first.breached
    assert not first.firing
    clock.advance(29)
    assert not evaluator.evaluate(FAILING, None)[0].firing
    clock.advance(1)
    [fired] = evaluator.evaluate(FAILING, None)
    assert fired.firing
    assert fired.sentence() == "error rate 12.0% > 5.0% for 30.0s"


def test_a_recovery_in_between_restarts_the_hold() -> None:
    clock = ManualClock()
    evaluator = TriggerEvaluator([ERRORS], clock.monotonic)
    evaluator.evaluate(FAILING, None)
    clock.advance(20)
    assert not evaluator.evaluate(HEALTHY, None)[0].breached
    clock.advance(20)
    [again] = evaluator.evaluate(FAILING, None)
    assert again.breached
    assert not again.firing
    assert again.sentence() == "error rate 12.0% > 5.0% for 0.0s of 30s"


def test_a_relative_rule_compares_with_the_good_releases_baseline() -> None:
    clock = ManualClock()
    evaluator = TriggerEvaluator([SLOWER], clock.monotonic)
    baseline = {"latency_p95": 0.040}
    slow = HEALTHY.with_values(latency_p95=0.070)
    [verdict] = evaluator.evaluate(slow, baseline)
    assert verdict.threshold is not None
    assert abs(verdict.threshold - 0.060) < 1e-9
    assert verdict.breached
    assert verdict.sentence().startswith("p95 70ms > 60ms (1.5x baseline)")


def test_the_baseline_floor_keeps_noise_from_firing() -> None:
    evaluator = TriggerEvaluator([SLOWER], ManualClock().monotonic)
    [verdict] = evaluator.evaluate(HEALTHY.with_values(latency_p95=0.006), {"latency_p95": 0.002})
    assert not verdict.breached  # 6ms against a 2ms baseline is noise: the floor makes it 30ms


def test_without_a_baseline_a_relative_rule_says_it_cannot_judge() -> None:
    [verdict] = TriggerEvaluator([SLOWER], ManualClock().monotonic).evaluate(HEALTHY, None)
    assert not verdict.firing
    assert verdict.sentence() == "p95: no baseline measured for the last known good release"


def test_too_few_samples_do_not_fire() -> None:
    sparse = replace(HEALTHY.with_values(latency_p95=None), samples=2)
    [verdict] = TriggerEvaluator([SLOWER], ManualClock().monotonic).evaluate(
        sparse, {"latency_p95": 0.01}
    )
    assert not verdict.breached
    assert "not enough samples yet (2)" in verdict.sentence()


def test_a_baseline_keeps_every_measured_metric() -> None:
    assert measure_baseline(HEALTHY) == {
        "error_rate": 0.0,
        "latency_p50": 0.005,
        "latency_p95": 0.010,
        "latency_p99": 0.020,
        "request_rate": 10.0,
    }


def test_a_rule_still_breached_after_it_fired_says_how_many_in_a_row_fire_it() -> None:
    rule = TriggerRule.model_validate(
        {"name": "errors", "metric": "error_rate", "above": 0.05, "failures": 2}
    )
    evaluator = TriggerEvaluator([rule], ManualClock().monotonic)

    sentences = [evaluator.evaluate(FAILING, None)[0].sentence() for _ in range(3)]

    assert sentences[0].endswith("in 1 of 2 measurements in a row")
    assert sentences[1].endswith("in 2 of 2 measurements in a row")
    assert sentences[2].endswith("in 3 measurements in a row (2 fire it)"), sentences
