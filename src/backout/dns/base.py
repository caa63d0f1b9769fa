"""The DNS provider interface: read a record set, and put one in place.

A provider serves the records of one zone (`dns[].zone`), through one platform: Route53, a
server taking RFC 2136 dynamic updates (BIND), or the `fake` JSON file.

    read(name, rtype)  The record set `name`/`rtype` as the provider answers it now, or None
                       when there is none. Read-only; one request (a few seconds at most).
    apply(record)      Make `record` the record set of its name and type: an upsert, replacing
                       every value and the TTL. Idempotent: applying what is there already
                       changes nothing visible. Atomic: the values change together or not at
                       all. Returns once the provider says the change is in effect (Route53:
                       INSYNC; RFC 2136: the primary answered NOERROR), within the provider's
                       `timeout`.

Both raise `DnsError`: `retryable` when trying again may help (the server is down or slow, a
throttle), not when it cannot (the key may not update the zone, the zone is unknown).
Names are absolute, lower case, without the final dot (`www.example.com`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from backout.errors import ExitCode, StepFailedError

# Types whose values are names: compared with a final dot, in lower case.
_NAME_VALUED = frozenset({"CNAME", "NS", "PTR", "DNAME"})


class DnsError(StepFailedError):
    """A DNS provider could not read or change a record; translated from the platform."""


class DnsUnreachableError(DnsError):
    """The DNS server or API did not answer: a retry may help (the CLI's exit 8)."""

    exit_code = ExitCode.UNAVAILABLE


def normal_name(name: str) -> str:
    """`WWW.Example.com.` → `www.example.com`: how names are compared and stored."""
    return name.strip().rstrip(".").lower()


@dataclass(frozen=True)
class RecordSet:
    """The values of one name and type, and their TTL; values kept sorted (a set)."""

    name: str
    rtype: str
    values: tuple[str, ...]
    ttl: int

    @classmethod
    def of(cls, name: str, rtype: str, values: list[str] | tuple[str, ...], ttl: int) -> RecordSet:
        """The canonical form: normal name, upper-case type, values sorted and deduplicated."""
        kind = rtype.upper()
        canonical = {_normal_value(kind, v) for v in values}
        return cls(normal_name(name), kind, tuple(sorted(canonical)), int(ttl))

    def same_as(self, other: RecordSet | None) -> bool:
        """Whether `other` holds the same values and TTL (what a rollback must reach)."""
        return other is not None and (self.values, self.ttl) == (other.values, other.ttl)

    def describe(self) -> str:
        """`A 192.0.2.10, 192.0.2.11 (ttl 300)`."""
        return f"{self.rtype} {', '.join(self.values)} (ttl {self.ttl})"

    def to_json(self) -> str:
        return json.dumps({"type": self.rtype, "ttl": self.ttl, "values": list(self.values)})

    @classmethod
    def from_json(cls, name: str, text: str) -> RecordSet:
        data = json.loads(text)
        return cls.of(name, str(data["type"]), list(data["values"]), int(data["ttl"]))


def _normal_value(rtype: str, value: str) -> str:
    value = value.strip()
    if rtype in _NAME_VALUED:
        return value.rstrip(".").lower() + "."
    return value


class DnsProvider(Protocol):
    """Where the records of one zone live; see the module doc for the contract."""

    def read(self, name: str, rtype: str) -> RecordSet | None: ...

    def apply(self, record: RecordSet) -> None: ...
