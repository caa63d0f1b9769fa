"""Metric sources (the built-in synthetic probe) and the trigger rules that read them."""

from backout.metrics.base import MetricHub, MetricSource, MetricsSnapshot
from backout.metrics.fake import FakeMetricHub, FakeMetricSource
from backout.metrics.probe import Probe, ProbeHub
from backout.metrics.rules import RuleVerdict, TriggerEvaluator, measure_baseline

__all__ = [
    "FakeMetricHub",
    "FakeMetricSource",
    "MetricHub",
    "MetricSource",
    "MetricsSnapshot",
    "Probe",
    "ProbeHub",
    "RuleVerdict",
    "TriggerEvaluator",
    "measure_baseline",
]
