"""A real BIND for the DNS tests: `named -g` as a plain child process on a loopback port, serving
one zone that takes dynamic updates signed with a TSIG key made by `tsig-keygen`.

As root, `named -g` runs as root (no `-u` needed); its journal and files live in the test's
folder. Ready means: it answers the zone's SOA over TCP.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.prometheus_support import find_binary, free_port

ZONE = "example.com"
KEY_NAME = "backout"
READY_DEADLINE_S = 20.0

_ZONE_FILE = """$TTL 300
@    IN SOA ns1.example.com. admin.example.com. 1 3600 600 86400 60
@    IN NS  ns1.example.com.
ns1  IN A   127.0.0.1
www  IN A   192.0.2.10
"""


@dataclass
class Bind:
    """A running named: where it listens, its key file, and how to stop it."""

    port: int
    folder: Path
    key_file: Path
    process: subprocess.Popen[bytes]

    @property
    def server(self) -> str:
        return "127.0.0.1"

    def answers(self, name: str, rtype: str = "A") -> list[str]:
        """What the server answers for `name` now (a query over TCP, as `dig +tcp` would)."""
        response = dns.query.tcp(dns.message.make_query(name, rtype), self.server, port=self.port)
        return sorted(r.to_text() for rrset in response.answer for r in rrset)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _config(folder: Path, port: int, key_file: Path) -> str:
    return f"""include "{key_file}";
options {{
    directory "{folder}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{folder}/named.pid";
    session-keyfile "{folder}/session.key";
    recursion no;
    dnssec-validation no;
}};
controls {{ }};
zone "{ZONE}" {{
    type primary;
    file "{folder}/db.{ZONE}";
    allow-update {{ key "{KEY_NAME}"; }};
}};
"""


def start_bind(folder: Path) -> Bind:
    named = find_binary("named")
    keygen = find_binary("tsig-keygen")
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "backout.key"
    key = subprocess.run([keygen, "-a", "hmac-sha256", KEY_NAME], check=True, capture_output=True)
    key_file.write_bytes(key.stdout)
    (folder / f"db.{ZONE}").write_text(_ZONE_FILE)
    port = free_port()
    conf = folder / "named.conf"
    conf.write_text(_config(folder, port, key_file))
    log = (folder / "named.log").open("ab")
    process = subprocess.Popen([named, "-g", "-c", str(conf)], stdout=log, stderr=log)
    bind = Bind(port, folder, key_file, process)
    _wait_until_ready(bind)
    return bind


def _wait_until_ready(bind: Bind) -> None:
    end = time.monotonic() + READY_DEADLINE_S
    query = dns.message.make_query(ZONE, "SOA")
    while time.monotonic() < end:
        if bind.process.poll() is not None:
            pytest.fail(f"named exited:\n{(bind.folder / 'named.log').read_text()}")
        try:
            response = dns.query.tcp(query, bind.server, port=bind.port, timeout=1.0)
            if response.rcode() == dns.rcode.NOERROR and response.answer:
                return
        except (OSError, EOFError, dns.exception.Timeout):
            pass
        time.sleep(0.05)
    bind.stop()
    pytest.fail(f"named was not ready in {READY_DEADLINE_S:g}s:\n{bind.folder / 'named.log'}")


@contextmanager
def running_bind(folder: Path) -> Iterator[Bind]:
    bind = start_bind(folder)
    try:
        yield bind
    finally:
        bind.stop()
