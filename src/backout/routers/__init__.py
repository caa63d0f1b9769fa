"""Routers: where the traffic of a service goes. Picked by `router.type` in config."""

from backout.registry import Registry
from backout.routers.base import Router, VersionLocating

# Lazily: a command imports only the routers its config uses.
ROUTERS: Registry[Router] = Registry("router")
ROUTERS.register_lazy("none", "backout.routers.none", "NoneSettings", "NoneRouter")
ROUTERS.register_lazy("fake", "backout.routers.fake", "FakeRouterSettings", "FakeRouter")
ROUTERS.register_lazy("haproxy", "backout.routers.haproxy", "HaproxySettings", "HaproxyRouter")

__all__ = ["ROUTERS", "Router", "VersionLocating"]
