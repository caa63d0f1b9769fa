"""The `haproxy` router: weights and server states through HAProxy's runtime API.

    router:
      type: haproxy
      socket: /run/haproxy/admin.sock     # `stats socket ... level admin` in HAProxy's global
      backend: api                        # the backend whose servers run the service's versions
      state_file: /var/lib/haproxy/server-state   # HAProxy's `server-state-file`, optional

Which server serves a version is not configured: the driver knows on which port each version
runs, and the router picks the backend's server with that port (`show servers state`). So there
is one truth for "where does 1.0.0 run" (the driver's processes) and one for "who gets traffic"
(HAProxy), and neither can drift from a copy. The runtime hands the router that locator
(`use_locator`); see docs/platforms.md `## haproxy` for the backend definition it expects.

After each change the router writes `show servers state` to `state_file`, so a reload of
HAProxy (with `load-server-state-from-file global`) keeps the weights and states it set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from pydantic import Field

from backout.atomic import write_text_atomic
from backout.clock import wait_until
from backout.durations import Duration, PositiveDuration, format_duration
from backout.errors import RouterError
from backout.registry import PluginContext, PluginSettings
from backout.routers._haproxy_api import RuntimeApi, ServerState

Locator = Callable[[str], "int | None"]  # version -> the port it runs on, None when it runs nowhere
FULL_WEIGHT = 100  # a share in percent is a weight: HAProxy weighs servers from 0 to 256


class HaproxySettings(PluginSettings):
    socket: str = Field(
        description="HAProxy's admin stats socket (`stats socket ... level admin`)."
    )
    backend: str = Field(description="The backend whose servers run the service's versions.")
    state_file: str | None = Field(
        None,
        description="HAProxy's `server-state-file`: written after every change so that a reload "
        "keeps the weights and states backout set. Relative to the config file's folder.",
    )
    drain_timeout: Duration = Field(
        timedelta(seconds=30),
        description="How long a drain waits for the requests in flight before maintenance.",
    )
    up_timeout: PositiveDuration = Field(
        timedelta(seconds=30),
        description="How long a server given traffic may take to pass HAProxy's own health "
        "checks (`rise` times `inter`) before the other servers' weight is taken from them.",
    )


class HaproxyRouter:
    """Shares traffic between the servers of one HAProxy backend by weight."""

    routes_traffic = True
    why_not = ""

    def __init__(self, settings: HaproxySettings, context: PluginContext) -> None:
        self._settings = settings
        self._api = RuntimeApi(context.resolve(settings.socket))
        self._backend = settings.backend
        self._state_file = context.resolve(settings.state_file) if settings.state_file else None
        self._locate: Locator | None = None

    def use_locator(self, locate: Locator) -> None:
        """How to find the port a version runs on (given by the runtime, from the driver)."""
        self._locate = locate

    # -- the Router interface ----------------------------------------------------------------

    def drain(self, version: str) -> None:
        """`drain` (no new requests), wait for the requests in flight, then `maint`."""
        server = self._server_of(version)
        if server.in_maintenance:
            return
        self._set_state(server.name, "drain")
        timeout = self._settings.drain_timeout.total_seconds()
        if not wait_until(
            lambda: self._api.sessions(self._backend).get(server.name, 0) == 0,
            timeout,
            interval=0.05,
        ):
            raise RouterError(
                f"{self._backend}/{server.name} ({version}) still has requests in flight after "
                f"{format_duration(self._settings.drain_timeout)}; it takes no new ones",
                retryable=True,
            )
        self._set_state(server.name, "maint")
        self._save_state()

    def set_share(self, version: str, percent: float) -> None:
        """`version`'s server gets weight `percent`, the backend's other servers the rest."""
        servers = self._api.servers(self._backend)
        server = self._pick(servers, version)
        others = [s for s in servers if s.name != server.name]
        weight = round(percent * FULL_WEIGHT / 100)
        rest = (FULL_WEIGHT - weight) // len(others) if others else 0
        # Its weight first, its state next (a server put back in sees its weight at once), the
        # others' weights last, once HAProxy's own checks find it running: until then they keep
        # theirs, so there is always a server for a request.
        self._api.command(f"set weight {self._backend}/{server.name} {weight}")
        if weight > 0:
            if server.admin_state != 0:
                self._set_state(server.name, "ready")
            self._wait_until_running(server, version)
        for other in others:
            self._api.command(f"set weight {self._backend}/{other.name} {rest}")
        self._save_state()

    def share(self, version: str) -> float:
        """The percent of new requests `version` gets now: its weight among the servers that
        take new requests (running, not draining, not in maintenance)."""
        servers = self._api.servers(self._backend)
        server = self._pick(servers, version)
        total = sum(s.weight for s in servers if s.takes_new_requests)
        if not server.takes_new_requests or total == 0:
            return 0.0
        return 100.0 * server.weight / total

    # -- checking a deployment ---------------------------------------------------------------

    def problems(self) -> list[str]:
        """What keeps this router from working here: the socket, the backend, the state file."""
        try:
            servers = self._api.servers(self._backend)
        except RouterError as error:
            return [error.message + (f" ({error.hint})" if error.hint else "")]
        found: list[str] = []
        if not servers:
            found.append(f"HAProxy's backend {self._backend!r} has no servers")
        if self._state_file is not None and not self._state_file.parent.is_dir():
            found.append(f"state_file: no folder {self._state_file.parent}")
        return found

    # -- internals ---------------------------------------------------------------------------

    def _server_of(self, version: str) -> ServerState:
        return self._pick(self._api.servers(self._backend), version)

    def _pick(self, servers: list[ServerState], version: str) -> ServerState:
        if self._locate is None:
            raise RouterError(f"router haproxy: nothing says where {version} runs")
        port = self._locate(version)
        if port is None:
            raise RouterError(f"{version} runs nowhere: no server of {self._backend} to route to")
        for server in servers:
            if server.port == port:
                return server
        ports = ", ".join(f"{s.name} ({s.address}:{s.port})" for s in servers) or "none"
        raise RouterError(
            f"{version} runs on port {port}, but HAProxy's backend {self._backend} has no server "
            f"on that port (its servers: {ports})",
            hint="declare one server per slot port in the backend (docs/platforms.md, haproxy)",
        )

    def _wait_until_running(self, server: ServerState, version: str) -> None:
        def running() -> bool:
            now = self._pick(self._api.servers(self._backend), version)
            return now.takes_new_requests

        if not wait_until(running, self._settings.up_timeout.total_seconds(), interval=0.05):
            raise RouterError(
                f"HAProxy does not find {self._backend}/{server.name} ({version}) up after "
                f"{format_duration(self._settings.up_timeout)}; the other servers keep their "
                "traffic",
                hint="check the server's `check` line and the path of `option httpchk`",
                retryable=True,
            )

    def _set_state(self, server: str, state: str) -> None:
        self._api.command(f"set server {self._backend}/{server} state {state}")

    def _save_state(self) -> None:
        """Write what HAProxy has now to its server-state-file, for its next reload."""
        if self._state_file is not None:
            write_text_atomic(self._state_file, self._api.command("show servers state"))
