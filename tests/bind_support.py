"""A real BIND for the DNS tests: the platforms quickstart's (`named -g` as a plain child process
on a loopback port), serving one zone that takes dynamic updates signed with a TSIG key made by
`tsig-keygen`.

As root, `named -g` runs as root (no `-u` needed); its journal and files live in the test's
folder. Ready means: it answers the zone's SOA over TCP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backout.quickstart.platforms import bind as quickstart_bind
from backout.quickstart.platforms._children import Child
from backout.quickstart.platforms.bind import DnsSite
from tests.prometheus_support import free_port

ZONE = "example.com"
KEY_NAME = quickstart_bind.KEY_NAME
RECORDS = "www  300 IN A   192.0.2.10"


@dataclass
class Bind:
    """A running named: where it listens, its key file, and how to stop it."""

    site: DnsSite
    child: Child

    @property
    def server(self) -> str:
        return quickstart_bind.ADDRESS

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def key_file(self) -> Path:
        return self.site.key_file

    def answers(self, name: str, rtype: str = "A") -> list[str]:
        return self.site.answers(name, rtype)

    def stop(self) -> None:
        self.child.stop()


def start_bind(folder: Path) -> Bind:
    site = DnsSite(folder, free_port(), zone=ZONE, records=RECORDS)
    return Bind(site, quickstart_bind.start_bind(site))


@contextmanager
def running_bind(folder: Path) -> Iterator[Bind]:
    bind = start_bind(folder)
    try:
        yield bind
    finally:
        bind.stop()
