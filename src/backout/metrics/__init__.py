"""Metric sources, picked by a service's `metrics: {type:}`; the trigger rules that read them."""

from backout.metrics.base import (
    MetricCatalogue,
    MetricHub,
    MetricInfo,
    MetricSource,
    MetricsSnapshot,
    Unit,
)
from backout.metrics.fake import FakeMetricHub, FakeMetricSource
from backout.metrics.hub import ConfiguredMetricHub
from backout.metrics.rules import RuleVerdict, TriggerEvaluator, back_under, measure_baseline
from backout.registry import Registry

# Lazily, like the drivers: a command imports only the sources its config uses.
METRIC_SOURCES: Registry[MetricSource] = Registry("metric source")
METRIC_SOURCES.register_lazy("probe", "backout.metrics.probe", "ProbeSettings", "build_probe")
METRIC_SOURCES.register_lazy("flow", "backout.metrics.flow", "FlowSettings", "build_flow")
METRIC_SOURCES.register_lazy("fake", "backout.metrics.fake", "FakeMetricSettings", "build_fake")
METRIC_SOURCES.register_lazy(
    "prometheus", "backout.metrics.prometheus", "PrometheusSettings", "build_prometheus"
)
METRIC_SOURCES.register_lazy("sql", "backout.metrics.sql", "SqlMetricSettings", "build_sql")

__all__ = [
    "METRIC_SOURCES",
    "ConfiguredMetricHub",
    "FakeMetricHub",
    "FakeMetricSource",
    "MetricCatalogue",
    "MetricHub",
    "MetricInfo",
    "MetricSource",
    "MetricsSnapshot",
    "RuleVerdict",
    "TriggerEvaluator",
    "Unit",
    "back_under",
    "measure_baseline",
]
