"""The fake metric source: any metrics with any units, values set by config or by the caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from backout.clock import ManualClock
from backout.config import PluginSpec, TriggerRule
from backout.errors import ConfigError
from backout.metrics import METRIC_SOURCES, FakeMetricSource, TriggerEvaluator
from backout.metrics.fake import HEALTHY
from backout.registry import PluginContext

QUEUE = {"provides": {"queue_depth": "count", "lag": "seconds"}, "values": {"queue_depth": 120}}


def _build(tmp_path: Path, settings: dict[str, object]) -> FakeMetricSource:
    context = PluginContext("worker", tmp_path / "backout.yaml", tmp_path, tmp_path)
    spec = PluginSpec(type="fake", **settings)
    source = METRIC_SOURCES.build(spec, ("services", "worker", "metrics"), context)
    assert isinstance(source, FakeMetricSource)
    return source


def test_by_default_it_stands_in_for_a_healthy_probe(tmp_path: Path) -> None:
    snapshot = _build(tmp_path, {}).snapshot()

    assert snapshot == HEALTHY
    assert snapshot.summary() == "errors 0.0%, p95 10ms, 100 requests"


def test_a_rule_on_a_metric_of_its_own_reads_by_its_unit(tmp_path: Path) -> None:
    source = _build(tmp_path, QUEUE)
    rule = TriggerRule.model_validate(
        {"name": "backlog", "metric": "queue_depth", "above": 100, "for": "0s"}
    )

    [verdict] = TriggerEvaluator([rule], ManualClock().monotonic).evaluate(source.snapshot(), None)

    assert verdict.firing
    assert verdict.sentence() == "queue depth 120 > 100 for 0.0s"
    assert source.snapshot().summary() == "queue depth 120, lag n/a, 100 samples"


def test_values_set_later_show_in_the_next_snapshot(tmp_path: Path) -> None:
    source = _build(tmp_path, QUEUE)

    source.set(lag=2.5, samples=0)

    assert source.snapshot().values["lag"] == 2.5
    assert source.snapshot().value("lag") is None, "no samples: nothing measured"


def test_a_value_for_a_metric_it_does_not_provide_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _build(tmp_path, {**QUEUE, "values": {"error_rate": 0.5}})
    assert "values for error_rate, not provided (provides: lag, queue_depth)" in str(raised.value)

    with pytest.raises(ValueError, match="error_rate: not provided"):
        _build(tmp_path, QUEUE).set(error_rate=0.5)


def test_an_unknown_unit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _build(tmp_path, {"provides": {"queue_depth": "bananas"}})
    assert "services.worker.metrics.provides.queue_depth" in str(raised.value)
