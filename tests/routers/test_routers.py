"""Routers: `fake` remembers shares across processes; `none` says why it shifts nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from backout.config import PluginSpec
from backout.errors import BackoutError, ConfigError
from backout.registry import PluginContext
from backout.routers import ROUTERS, Router


def build(kind: str, tmp_path: Path) -> Router:
    context = PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")
    return ROUTERS.build(PluginSpec(type=kind), ("services", "api", "router"), context)


def test_the_fake_router_keeps_shares_for_the_next_process(tmp_path: Path) -> None:
    router = build("fake", tmp_path)
    assert router.routes_traffic
    router.set_share("1.0.0", 50)
    router.drain("1.1.0")
    again = build("fake", tmp_path)
    assert again.share("1.0.0") == 50
    assert again.share("1.1.0") == 0


def test_the_none_router_refuses_to_pretend(tmp_path: Path) -> None:
    router = build("none", tmp_path)
    assert not router.routes_traffic
    assert "no load balancer in front of 'api'" in router.why_not
    with pytest.raises(BackoutError, match="router 'none'"):
        router.drain("1.1.0")


def test_building_a_router_touches_nothing(tmp_path: Path) -> None:
    build("fake", tmp_path)
    assert not (tmp_path / ".backout").exists()


def test_the_haproxy_router_is_registered_and_built_without_touching_anything(
    tmp_path: Path,
) -> None:
    context = PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")
    spec = PluginSpec.model_validate(
        {"type": "haproxy", "socket": "haproxy.sock", "backend": "api", "state_file": "state"}
    )
    router = ROUTERS.build(spec, ("services", "api", "router"), context)
    assert "haproxy" in ROUTERS.names()
    assert router.routes_traffic
    assert list(tmp_path.iterdir()) == []


def test_the_haproxy_router_needs_a_socket_and_a_backend(tmp_path: Path) -> None:
    context = PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")
    with pytest.raises(ConfigError) as raised:
        ROUTERS.build(PluginSpec(type="haproxy"), ("services", "api", "router"), context)
    problems = " ".join(raised.value.problems)
    assert "services.api.router.socket" in problems
    assert "services.api.router.backend" in problems
