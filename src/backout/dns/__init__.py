"""DNS records a rollback sets back to their previous target. Providers are picked by
`dns[].provider.type` in config: route53, rfc2136 (BIND, nsupdate-compatible), fake."""

from __future__ import annotations

from backout.config import Config
from backout.dns.base import DnsError, DnsProvider, RecordSet, normal_name
from backout.dns.context import DnsContext, dns_plugin_context
from backout.registry import Registry

# Lazily: boto3 and dnspython are imported only when a config names their provider.
DNS_PROVIDERS: Registry[DnsProvider] = Registry("DNS provider")
DNS_PROVIDERS.register_lazy("route53", "backout.dns.route53", "Route53Settings", "Route53Provider")
DNS_PROVIDERS.register_lazy("rfc2136", "backout.dns.rfc2136", "Rfc2136Settings", "Rfc2136Provider")
DNS_PROVIDERS.register_lazy("fake", "backout.dns.fake", "FakeDnsSettings", "FakeDnsProvider")


def dns_provider_for(config: Config, name: str) -> DnsProvider:
    """The provider of the record `name` of `dns:` (NotFoundError for an unknown one)."""
    record = config.dns_record(name)
    index = config.dns.index(record)
    context = dns_plugin_context(config, index)
    return DNS_PROVIDERS.build(record.provider, ("dns", index, "provider"), context)


__all__ = [
    "DNS_PROVIDERS",
    "DnsContext",
    "DnsError",
    "DnsProvider",
    "RecordSet",
    "dns_plugin_context",
    "dns_provider_for",
    "normal_name",
]
