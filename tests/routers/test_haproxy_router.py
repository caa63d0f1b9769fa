"""The `haproxy` router against a real HAProxy 2.6: drain, shares, idempotence, a reload that
keeps the weights through the server-state file, and clear errors for a bad socket or backend."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backout.config import PluginSpec
from backout.errors import RouterError
from backout.registry import PluginContext
from backout.routers import ROUTERS, Router, VersionLocating
from backout.routers._haproxy_api import RuntimeApi, ServerState
from tests.haproxy_support import Haproxy, haproxy, locator
from tests.prometheus_support import wait_for

__all__ = ["haproxy"]  # the fixture

pytestmark = pytest.mark.timeout(60)


def build(proxy: Haproxy, backend: str | None = None, **extra: str) -> Router:
    context = PluginContext("api", proxy.folder / "backout.yaml", proxy.folder, proxy.folder)
    spec = PluginSpec.model_validate(
        {
            "type": "haproxy",
            "socket": str(proxy.socket),
            "backend": backend or proxy.backend,
            "state_file": str(proxy.state_file),
            "drain_timeout": "5s",
            **extra,
        }
    )
    router = ROUTERS.build(spec, ("services", "api", "router"), context)
    assert isinstance(router, VersionLocating)
    old, new = proxy.slot_ports
    router.use_locator(locator({"1.1.0": old, "1.0.0": new}))
    return router


def served_by(proxy: Haproxy, requests: int = 40) -> set[str]:
    with httpx.Client(timeout=5) as client:
        return {client.get(proxy.url).text for _ in range(requests)}


def both_up(proxy: Haproxy) -> None:
    wait_for(lambda: len(served_by(proxy, 10)) == 2, "both slots up in HAProxy", 15)


def test_set_share_moves_new_requests_by_weight(haproxy: Haproxy) -> None:
    router = build(haproxy)
    both_up(haproxy)
    _, new = haproxy.slot_ports

    router.set_share("1.0.0", 50)
    assert router.share("1.0.0") == 50
    assert router.share("1.1.0") == 50

    router.set_share("1.0.0", 100)
    assert router.share("1.0.0") == 100
    assert router.share("1.1.0") == 0
    assert served_by(haproxy) == {f"slot {new}"}

    router.set_share("1.0.0", 100)  # again: nothing changes
    assert router.share("1.0.0") == 100


def test_drain_stops_new_requests_then_puts_the_server_in_maintenance(haproxy: Haproxy) -> None:
    router = build(haproxy)
    both_up(haproxy)
    _, new = haproxy.slot_ports

    router.drain("1.1.0")
    assert router.share("1.1.0") == 0
    assert router.share("1.0.0") == 100
    assert served_by(haproxy) == {f"slot {new}"}
    old_server = next(s for s in _servers(haproxy) if s.port == haproxy.slot_ports[0])
    assert old_server.in_maintenance

    router.drain("1.1.0")  # again: a no-op
    router.set_share("1.1.0", 10)  # put back in: out of maintenance, 10 %
    assert router.share("1.1.0") == 10


def test_a_reload_keeps_the_weights_through_the_server_state_file(haproxy: Haproxy) -> None:
    router = build(haproxy)
    both_up(haproxy)
    router.set_share("1.0.0", 10)
    router.drain("1.1.0")

    haproxy.reload()

    assert router.share("1.1.0") == 0
    old_server = next(s for s in _servers(haproxy) if s.port == haproxy.slot_ports[0])
    assert old_server.in_maintenance
    new_server = next(s for s in _servers(haproxy) if s.port == haproxy.slot_ports[1])
    assert new_server.weight == 10


def test_a_missing_socket_is_named(haproxy: Haproxy, tmp_path: Path) -> None:
    router = build(haproxy, socket=str(tmp_path / "nowhere.sock"))
    with pytest.raises(RouterError, match=r"no HAProxy admin socket at .*nowhere\.sock"):
        router.share("1.0.0")
    assert isinstance(router, VersionLocating)
    assert "no HAProxy admin socket" in router.problems()[0]


def test_an_unknown_backend_is_named(haproxy: Haproxy) -> None:
    router = build(haproxy, backend="nope")
    with pytest.raises(RouterError, match="HAProxy refused `show servers state nope`"):
        router.set_share("1.0.0", 10)
    assert isinstance(router, VersionLocating)
    assert router.problems() != []


def test_a_version_on_no_server_of_the_backend_is_named(haproxy: Haproxy) -> None:
    router = build(haproxy)
    assert isinstance(router, VersionLocating)
    router.use_locator(locator({"1.0.0": 1}))
    with pytest.raises(RouterError, match="runs on port 1, but HAProxy's backend app has no"):
        router.share("1.0.0")
    with pytest.raises(RouterError, match=r"2\.0\.0 runs nowhere"):
        router.drain("2.0.0")


def _servers(proxy: Haproxy) -> list[ServerState]:
    return RuntimeApi(proxy.socket).servers(proxy.backend)
