"""Routers: where the traffic of a service goes. Picked by `router.type` in config."""

from backout.registry import Registry
from backout.routers.base import Router
from backout.routers.fake import FakeRouter, FakeRouterSettings
from backout.routers.none import NoneRouter, NoneSettings

ROUTERS: Registry[Router] = Registry("router")
ROUTERS.register("none", NoneSettings, NoneRouter)
ROUTERS.register("fake", FakeRouterSettings, FakeRouter)

__all__ = ["ROUTERS", "Router"]
