"""The `fake` DNS provider: record sets kept in a JSON file, for dry runs and tests of plans.

The RFC 2136 and Route53 providers' tests run against a real BIND and moto's server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from backout.atomic import write_text_atomic
from backout.dns.base import RecordSet, normal_name
from backout.dns.context import DnsContext
from backout.registry import PluginSettings


class FakeDnsSettings(PluginSettings):
    path: str = Field(
        "fake-dns.json", description="The JSON file of the records (relative to the state folder)."
    )


class FakeDnsProvider:
    """The zone's records in `path`: {"www.example.com A": {"ttl": 300, "values": [...]}}."""

    def __init__(self, settings: FakeDnsSettings, context: DnsContext) -> None:
        path = Path(settings.path).expanduser()
        self._path = path if path.is_absolute() else context.state_dir / path

    def read(self, name: str, rtype: str) -> RecordSet | None:
        found = self._records().get(_key(name, rtype))
        if found is None:
            return None
        return RecordSet.of(name, rtype, list(found["values"]), int(found["ttl"]))

    def apply(self, record: RecordSet) -> None:
        records = self._records()
        records[_key(record.name, record.rtype)] = {
            "ttl": record.ttl,
            "values": list(record.values),
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._path, json.dumps(records, indent=2, sort_keys=True))

    def _records(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        return data


def _key(name: str, rtype: str) -> str:
    return f"{normal_name(name)} {rtype.upper()}"
