"""The DNS providers' fixtures: a real BIND (tests/bind_support.py) and moto's Route53 server,
each started once per module, and a provider of each kind over them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from backout.dns import DnsProvider, RecordSet
from backout.dns.context import DnsContext
from backout.dns.fake import FakeDnsProvider, FakeDnsSettings
from backout.dns.rfc2136 import Rfc2136Provider, Rfc2136Settings
from backout.dns.route53 import Route53Provider, Route53Settings
from tests.bind_support import ZONE, Bind, running_bind
from tests.prometheus_support import ServerProcess, free_port

SEEDED = RecordSet.of("www.example.com", "A", ["192.0.2.10"], 300)
MOTO_SERVER = Path(sys.executable).with_name("moto_server")
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    with running_bind(tmp_path_factory.mktemp("bind")) as server:
        yield server


@dataclass
class Moto:
    url: str
    process: ServerProcess

    def client(self) -> Any:
        return boto3.client("route53", region_name="us-east-1", endpoint_url=self.url)

    def hosted_zone(self, zone: str, seeded: RecordSet) -> str:
        """A new hosted zone holding `seeded`; its id."""
        client = self.client()
        made = client.create_hosted_zone(Name=zone, CallerReference=str(free_port()))
        zone_id: str = made["HostedZone"]["Id"].split("/")[-1]
        Route53Provider(
            Route53Settings(hosted_zone_id=zone_id, endpoint_url=self.url), context("x")
        ).apply(seeded)
        return zone_id


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto's server on a loopback port (its Route53 keeps no credentials check)."""
    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    argv = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)]
    server = ServerProcess("moto_server", argv, f"http://127.0.0.1:{port}/moto-api/", log)
    server.start()
    try:
        yield Moto(f"http://127.0.0.1:{port}", server)
    finally:
        server.stop()


def context(name: str, base: Path | None = None) -> DnsContext:
    folder = base or Path(".")
    return DnsContext(
        service=name,
        config_file=folder / "backout.yaml",
        base_dir=folder,
        state_dir=folder,
        zone=ZONE,
        where="dns[0]",
    )


def rfc2136(bind: Bind, **settings: Any) -> Rfc2136Provider:
    chosen: dict[str, Any] = {
        "server": bind.server,
        "port": bind.port,
        "key_name": "backout",
        "key_file": str(bind.key_file),
        "timeout": "3s",
        **settings,
    }
    return Rfc2136Provider(Rfc2136Settings.model_validate(chosen), context("www.example.com"))


def route53(moto: Moto, zone_id: str, **settings: Any) -> Route53Provider:
    chosen: dict[str, Any] = {"hosted_zone_id": zone_id, "endpoint_url": moto.url, **settings}
    return Route53Provider(Route53Settings.model_validate(chosen), context("www.example.com"))


def fake(folder: Path) -> FakeDnsProvider:
    provider = FakeDnsProvider(FakeDnsSettings(), context("www.example.com", folder))
    provider.apply(SEEDED)
    return provider


@pytest.fixture(params=["rfc2136-bind", "route53-moto", "fake"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> DnsProvider:
    """Each provider over a zone holding www.example.com A 192.0.2.10 (ttl 300)."""
    if request.param == "rfc2136-bind":
        bind: Bind = request.getfixturevalue("bind")
        made = rfc2136(bind)
        made.apply(SEEDED)  # the module's server: put the seeded record back
        return made
    if request.param == "route53-moto":
        moto: Moto = request.getfixturevalue("moto")
        return route53(moto, moto.hosted_zone(ZONE, SEEDED))
    return fake(tmp_path)
