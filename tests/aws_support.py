"""moto's server as the AWS of the tests: one real HTTP server process on a loopback port per
test session (per xdist worker), with S3, CloudFront and ECS behind it.

Tests keep out of each other's way by unique names (a bucket, a cluster, a distribution of their
own), so the server is never reset under a test running beside. The environment a test gets
(`aws_env`) holds fake credentials and no shared AWS files, so nothing of the machine's own AWS
setup is read, and nothing real is reached.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from backout.quickstart.platforms.aws import distribution_config
from tests.prometheus_support import ServerProcess, free_port

REGION = "eu-west-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
}
# moto's ECS reports this many running tasks for a new service (0 otherwise): MACHINE.md.
RUNNING_TASKS = "1"


@dataclass(frozen=True)
class Moto:
    endpoint_url: str
    server: ServerProcess

    def client(self, service: str) -> Any:
        """A boto3 client of `service` talking to this server, as a test's own hands."""
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def settings(self, **more: Any) -> dict[str, Any]:
        """The connection settings of a driver section that talks to this server."""
        return {"endpoint_url": self.endpoint_url, "region": REGION, **more}


def moto_server_binary() -> str:
    """The venv's moto_server (installed with the dev dependencies), beside this interpreter."""
    import sys

    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run make setup-dev (moto[server] is a dev dependency)")
    return str(binary)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto's server on a free loopback port for the session; stopped at its end."""
    port = free_port()
    folder = tmp_path_factory.mktemp("moto")
    argv = [moto_server_binary(), "-H", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    server = ServerProcess("moto_server", argv, f"{url}/moto-api/", folder / "moto.log")
    previous = os.environ.get("MOTO_ECS_SERVICE_RUNNING")
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = RUNNING_TASKS  # read by the server process
    try:
        server.start()
    finally:
        if previous is None:
            del os.environ["MOTO_ECS_SERVICE_RUNNING"]
        else:
            os.environ["MOTO_ECS_SERVICE_RUNNING"] = previous
    try:
        yield Moto(url, server)
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's credential chain finds fake keys, and no file or metadata service of the machine."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def unique(prefix: str) -> str:
    """A name no other test of the session uses (buckets: lower case, digits and '-')."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def write_build(folder: Path, version: str, files: dict[str, str] | None = None) -> Path:
    """A static site's build: index.html saying `version`, plus `files` (path → text)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(f"<h1>{version}</h1>", encoding="utf-8")
    for path, text in (files or {}).items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def s3_text(moto: Moto, bucket: str, key: str) -> str | None:
    """An object's text, or None when the key does not exist."""
    s3 = moto.client("s3")
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return body.decode()


def s3_keys(moto: Moto, bucket: str, prefix: str = "") -> set[str]:
    pages = (
        moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def create_distribution(moto: Moto, bucket: str) -> str:
    """A CloudFront distribution with the bucket as its origin (as the quickstart makes it)."""
    config = distribution_config(bucket, unique("dist"), "backout test")
    answer = moto.client("cloudfront").create_distribution(DistributionConfig=config)
    distribution_id: str = answer["Distribution"]["Id"]
    return distribution_id


def ecs_cluster(
    moto: Moto, family: str, versions: list[str], *, running: bool = True
) -> tuple[str, str]:
    """A cluster with a service on the first of `family`'s task definitions, one registered
    per version (revisions 1, 2, ...), its one task running or (`running=False`) scaled to 0;
    (cluster, service)."""
    ecs = moto.client("ecs")
    cluster = unique("cluster")
    ecs.create_cluster(clusterName=cluster)
    for version in versions:
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[
                {"name": "web", "image": f"registry.test/web:{version}", "memory": 128}
            ],
        )
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=f"{family}:1", desiredCount=1
    )
    if not running:  # moto reports MOTO_ECS_SERVICE_RUNNING tasks whatever the count asked
        ecs.update_service(cluster=cluster, service="web", desiredCount=0)
    return cluster, "web"


class FakeCloudFront:
    """A fake CloudFront API (not moto: a few lines of XML on a loopback port) that answers
    invalidations with AWS's own spelling, `Completed`, after `in_progress_reads` reads saying
    `InProgress` (-1: never completes). boto3 reaches it through AWS_ENDPOINT_URL_CLOUDFRONT."""

    def __init__(self, in_progress_reads: int) -> None:
        self.in_progress_reads = in_progress_reads
        self.reads = 0
        self.created: list[str] = []  # the CallerReference of each invalidation created
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCloudFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _status(self) -> str:
        self.reads += 1
        done = self.in_progress_reads >= 0 and self.reads > self.in_progress_reads
        return "Completed" if done else "InProgress"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                reference = body.split("<CallerReference>")[1].split("<")[0]
                fake.created.append(reference)
                self._answer(201, _invalidation_xml("I1", "InProgress", reference))

            def do_GET(self) -> None:
                self._answer(200, _invalidation_xml("I1", fake._status(), fake.created[-1]))

            def _answer(self, code: int, xml: str) -> None:
                data = xml.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _invalidation_xml(invalidation_id: str, status: str, reference: str) -> str:
    return (
        '<?xml version="1.0"?>'
        '<Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
        f"<Id>{invalidation_id}</Id><Status>{status}</Status>"
        "<CreateTime>2026-01-01T00:00:00Z</CreateTime><InvalidationBatch>"
        "<Paths><Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths>"
        f"<CallerReference>{reference}</CallerReference></InvalidationBatch></Invalidation>"
    )
