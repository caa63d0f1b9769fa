"""The `dns:` section: the DNS records a rollback may set back to their previous target.

    dns:
      - name: www.example.com
        type: A
        zone: example.com
        provider: {type: rfc2136, server: 127.0.0.1, key_name: backout, key_file: backout.key}

Each record is the subject `dns_record:NAME` of runs and locks, so a name is listed once.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from backout.config.sections import PluginSpec, Section

_HOST_NAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9_*]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
# The record types a rollback may set: those Route 53 serves, and those BIND serves besides
# (DNAME, LOC, URI ...); not SOA, which no rollback sets.
RECORD_TYPES = frozenset(
    [
        "A",
        "AAAA",
        "AFSDB",
        "CAA",
        "CDNSKEY",
        "CDS",
        "CERT",
        "CNAME",
        "DNAME",
        "DNSKEY",
        "DS",
        "HINFO",
        "HTTPS",
        "IPSECKEY",
        "KX",
        "LOC",
        "MX",
        "NAPTR",
        "NS",
        "OPENPGPKEY",
        "PTR",
        "RP",
        "SMIMEA",
        "SPF",
        "SRV",
        "SSHFP",
        "SVCB",
        "TLSA",
        "TXT",
        "URI",
    ]
)


class DnsRecordConfig(Section):
    """One record set a rollback may set back: its name, type, zone and who serves the zone."""

    name: str = Field(description="The record's name, absolute (www.example.com).")
    type: str = Field("A", description="The record type: A, AAAA, CNAME, TXT ...")
    zone: str = Field(description="The zone the record is in (example.com).")
    provider: PluginSpec = Field(
        description="Who serves the zone: route53, rfc2136 (BIND and other RFC 2136 servers) "
        "or fake (a JSON file, for dry runs)."
    )

    @field_validator("name", "zone")
    @classmethod
    def _a_host_name(cls, value: str) -> str:
        name = value.strip().rstrip(".").lower()
        if not _HOST_NAME.fullmatch(name):
            raise ValueError(f"expected a DNS name such as www.example.com, got {value!r}")
        return name

    @field_validator("type")
    @classmethod
    def _a_record_type(cls, value: str) -> str:
        kind = value.strip().upper()
        if kind not in RECORD_TYPES:
            raise ValueError(
                f"expected a record type, one of {', '.join(sorted(RECORD_TYPES))}; got {value!r}"
            )
        return kind

    @model_validator(mode="after")
    def _name_in_zone(self) -> DnsRecordConfig:
        if self.name != self.zone and not self.name.endswith("." + self.zone):
            raise ValueError(f"name {self.name!r} is not in zone {self.zone!r}")
        return self
