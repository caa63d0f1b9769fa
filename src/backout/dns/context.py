"""What a DNS provider knows of where it runs: the plug-in context, the zone and the record's
place in backout.yaml (for error messages that name the key)."""

from __future__ import annotations

from dataclasses import dataclass, field

from backout.config import Config
from backout.registry import PluginContext


@dataclass(frozen=True)
class DnsContext(PluginContext):
    zone: str = field(default="", kw_only=True)
    where: str = field(default="dns", kw_only=True)  # e.g. dns[0]


def dns_plugin_context(config: Config, index: int) -> DnsContext:
    """The context of the provider of `config.dns[index]`."""
    record = config.dns[index]
    return DnsContext(
        service=record.name,
        config_file=config.source,
        base_dir=config.base_dir,
        state_dir=config.state_dir,
        environment=config.environment,
        zone=record.zone,
        where=f"dns[{index}]",
    )
