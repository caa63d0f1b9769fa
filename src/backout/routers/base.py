"""The Router interface: the runbook's "stop traffic" and "gradual traffic restore".

A router sends a share of a service's traffic to each of its versions (HAProxy backends,
a load balancer's target groups ...). Every method is idempotent and quick (under a few
seconds); setting a share already in force is a no-op.

    routes_traffic      False for a router that manages nothing (`none`): the traffic steps
                        then record themselves as skipped, with `why_not` as the reason.
    drain(version)      no new requests reach `version`; requests in flight may finish.
    set_share(version, percent)
                        `version` receives `percent` % of new requests.
    share(version)      the percent of traffic `version` receives now, as the router reports it.

Errors: RouterError, translated from the router's own protocol errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Router(Protocol):
    @property
    def routes_traffic(self) -> bool: ...

    @property
    def why_not(self) -> str: ...

    def drain(self, version: str) -> None: ...

    def set_share(self, version: str, percent: float) -> None: ...

    def share(self, version: str) -> float: ...


@runtime_checkable
class VersionLocating(Protocol):
    """A router that routes by port and asks where a version runs (the runtime tells it, from
    the service's driver): `locate(version)` is the port `version` runs on, or None."""

    def use_locator(self, locate: Callable[[str], int | None]) -> None: ...

    def problems(self) -> list[str]:
        """What keeps the router from working where this runs (its socket, its backend);
        read-only, for `backout check`."""
        ...
