"""The metrics of HTTP requests, as the synthetic probe measures them (and the fake mimics).

Apart from probe.py so that the fake (imported with the package) does not import the probe,
which is registered lazily and imported only for a config that picks it.
"""

from __future__ import annotations

from backout.categories import IncidentCategory
from backout.metrics.base import MetricCatalogue, MetricInfo, Unit

_SLOWER = IncidentCategory.PERFORMANCE

HTTP_METRICS = MetricCatalogue(
    {
        "error_rate": MetricInfo(Unit.FRACTION, "error rate", "errors"),
        "latency_p50": MetricInfo(Unit.SECONDS, "p50", category=_SLOWER),
        "latency_p95": MetricInfo(Unit.SECONDS, "p95", "p95", category=_SLOWER),
        "latency_p99": MetricInfo(Unit.SECONDS, "p99", category=_SLOWER),
        "request_rate": MetricInfo(Unit.PER_SECOND, "request rate"),
    },
    sample_noun="requests",
)
"""An answer >= 500, or none within the timeout, is an error; latencies need 5 samples."""
