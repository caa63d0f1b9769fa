"""The plug-in registry: chosen by `type:`, duplicates refused, unavailable plug-ins explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from backout.config import PluginSpec
from backout.errors import BackoutError, ConfigError
from backout.registry import PluginContext, PluginSettings, Registry


class EchoSettings(PluginSettings):
    word: str = "hello"


class Echo:
    def __init__(self, settings: EchoSettings, context: PluginContext) -> None:
        self.said = f"{context.service}: {settings.word}"


def context(tmp_path: Path) -> PluginContext:
    return PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")


def test_a_plugin_is_built_from_its_type_and_settings(tmp_path: Path) -> None:
    registry: Registry[Echo] = Registry("echo")
    registry.register("echo", EchoSettings, Echo)
    built = registry.build(
        PluginSpec(type="echo", word="hi"), ("services", "api", "echo"), context(tmp_path)
    )
    assert built.said == "api: hi"


def test_a_second_plugin_of_the_same_name_is_refused() -> None:
    registry: Registry[Echo] = Registry("echo")
    registry.register("echo", EchoSettings, Echo)
    with pytest.raises(BackoutError, match="echo 'echo' is registered twice"):
        registry.register("echo", EchoSettings, Echo)


def test_a_plugin_missing_its_dependency_is_reported_not_crashed(tmp_path: Path) -> None:
    registry: Registry[Echo] = Registry("driver")
    registry.register_unavailable("kubernetes", "the `kubernetes` package is not installed")
    assert registry.names() == []
    with pytest.raises(ConfigError) as raised:
        registry.build(
            PluginSpec(type="kubernetes"), ("services", "api", "driver"), context(tmp_path)
        )
    assert raised.value.problems == [
        "services.api.driver.type: driver 'kubernetes' is unavailable here "
        "(the `kubernetes` package is not installed)"
    ]


def test_unknown_settings_are_refused_with_their_key_path(tmp_path: Path) -> None:
    registry: Registry[Echo] = Registry("echo")
    registry.register("echo", EchoSettings, Echo)
    with pytest.raises(ConfigError) as raised:
        registry.build(
            PluginSpec(type="echo", wrod="hi"), ("services", "api", "echo"), context(tmp_path)
        )
    assert raised.value.problems == [
        "services.api.echo.wrod: unknown key (misspelt, or not in this version of backout)"
    ]
