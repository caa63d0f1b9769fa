"""The `none` router: for a service with a single instance and no load balancer in front."""

from __future__ import annotations

from backout.errors import BackoutError
from backout.registry import PluginContext, PluginSettings


class NoneSettings(PluginSettings):
    pass


class NoneRouter:
    """Manages no traffic; the plan's traffic steps are recorded as skipped, saying why."""

    routes_traffic = False

    def __init__(self, settings: NoneSettings, context: PluginContext) -> None:
        self._service = context.service

    @property
    def why_not(self) -> str:
        return (
            f"router 'none': no load balancer in front of {self._service!r}, "
            "so there is no traffic to shift (configure a router to get this step)"
        )

    def drain(self, version: str) -> None:
        raise BackoutError(self.why_not)

    def set_share(self, version: str, percent: float) -> None:
        raise BackoutError(self.why_not)

    def share(self, version: str) -> float:
        raise BackoutError(self.why_not)
