"""A real BIND serving the demo's zone on a loopback port, taking dynamic updates (RFC 2136)
signed with a TSIG key made by `tsig-keygen`: what backout's rfc2136 provider talks to."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from backout.quickstart.platforms._children import Child, require_program, start_child

INSTALL = "install BIND: apt-get install bind9 (named and tsig-keygen)"
ZONE = "badminton.example"
KEY_NAME = "backout"
RECORD = f"api.{ZONE}"
ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class DnsSite:
    """Where named listens and keeps its files, and the zone it serves."""

    folder: Path
    port: int
    zone: str = ZONE
    records: str = "api  IN A   192.0.2.10"  # the zone's own records, in zone-file syntax

    @property
    def key_file(self) -> Path:
        return self.folder / f"{KEY_NAME}.key"

    def zone_file(self) -> str:
        zone = self.zone
        return f"""$TTL 60
@    IN SOA ns1.{zone}. admin.{zone}. 1 3600 600 86400 60
@    IN NS  ns1.{zone}.
ns1  IN A   127.0.0.1
{self.records}
"""

    def config(self) -> str:
        folder = self.folder
        return f"""include "{self.key_file}";
options {{
    directory "{folder}";
    listen-on port {self.port} {{ {ADDRESS}; }};
    listen-on-v6 {{ none; }};
    pid-file "{folder}/named.pid";
    session-keyfile "{folder}/session.key";
    recursion no;
    dnssec-validation no;
}};
controls {{ }};
zone "{self.zone}" {{
    type primary;
    file "{folder}/db.{self.zone}";
    allow-update {{ key "{KEY_NAME}"; }};
}};
"""

    def answers(self, name: str, rtype: str = "A") -> list[str]:
        """What the server answers for `name` now (a query over TCP, as `dig +tcp`)."""
        query = dns.message.make_query(name, dns.rdatatype.from_text(rtype))
        response = dns.query.tcp(query, ADDRESS, port=self.port, timeout=2.0)
        return sorted(r.to_text() for rrset in response.answer for r in rrset)


def start_bind(site: DnsSite) -> Child:
    """named in the foreground (`-g`), once it answers its zone's SOA."""
    named = require_program("named", INSTALL)
    keygen = require_program("tsig-keygen", INSTALL)
    site.folder.mkdir(parents=True, exist_ok=True)
    key = subprocess.run(
        [keygen, "-a", "hmac-sha256", KEY_NAME], check=True, capture_output=True, timeout=30
    )
    site.key_file.write_bytes(key.stdout)
    site.key_file.chmod(0o600)
    (site.folder / f"db.{site.zone}").write_text(site.zone_file(), encoding="utf-8")
    config = site.folder / "named.conf"
    config.write_text(site.config(), encoding="utf-8")
    return start_child(
        "BIND (named)",
        [named, "-g", "-c", str(config)],
        site.folder / "named.log",
        lambda: _serves_zone(site),
    )


def _serves_zone(site: DnsSite) -> bool:
    query = dns.message.make_query(site.zone, dns.rdatatype.SOA)
    try:
        response = dns.query.tcp(query, ADDRESS, port=site.port, timeout=1.0)
    except (OSError, EOFError, dns.exception.DNSException):
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)
