"""The metric sources of the services of one config, built through the registry on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from backout.config import PluginSpec
from backout.metrics.base import MetricSource
from backout.metrics.combined import CombinedSource
from backout.registry import PluginContext, Registry

SourceSpecs = Mapping[str, list[tuple[PluginSpec, tuple[str | int, ...]]]]
"""service -> each of its metric sources' section, and where that section is in the config."""


class ConfiguredMetricHub:
    """One source per service for the whole process, shared by the watch loop and the steps."""

    def __init__(
        self,
        registry: Registry[MetricSource],
        specs: SourceSpecs,
        context: Callable[[str], PluginContext],
    ) -> None:
        self._registry = registry
        self._specs = specs
        self._context = context
        self._sources: dict[str, MetricSource] = {}
        self._lock = threading.Lock()

    def source(self, service: str) -> MetricSource | None:
        """The started source of `service`, built on first use; None if it has none."""
        spec = self._specs.get(service)
        if spec is None:
            return None
        with self._lock:
            source = self._sources.get(service)
            if source is None:
                source = build_sources(self._registry, spec, self._context(service))
                source.start()
                self._sources[service] = source
            return source

    def close(self) -> None:
        with self._lock:
            sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            source.close()


def build_sources(
    registry: Registry[MetricSource],
    specs: list[tuple[PluginSpec, tuple[str | int, ...]]],
    context: PluginContext,
) -> MetricSource:
    """The service's one source, or its several read as one; built, not started."""
    sources = [registry.build(section, where, context) for section, where in specs]
    return sources[0] if len(sources) == 1 else CombinedSource(sources)
