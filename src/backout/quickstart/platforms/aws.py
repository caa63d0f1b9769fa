"""moto's server as the story's AWS: an S3 bucket for the static front end and a CloudFront
distribution in front of it. Nothing leaves the machine: every client is pointed at moto on a
loopback port, with credentials that exist only for it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from backout.errors import UnavailableError
from backout.quickstart.platforms._children import Child, start_child

INSTALL = (
    "install moto's server into backout's environment: pip install 'moto[server]' "
    "(`make setup-dev` does)"
)
REGION = "eu-west-1"
BUCKET = "badminton-frontend"
# moto accepts any keys; these exist only for it, and only in this process (see aws_credentials).
_PUBLIC_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    ],
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "quickstart", "AWS_SECRET_ACCESS_KEY": "quickstart"}


@dataclass(frozen=True)
class AwsSite:
    folder: Path
    port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def site_url(self) -> str:
        """The front end's page as a browser would fetch it from the bucket."""
        return f"{self.endpoint_url}/{BUCKET}/index.html"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


def moto_server_program() -> str | None:
    """moto's server beside this interpreter (a venv), or on the PATH."""
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return str(beside)
    return shutil.which("moto_server")


def start_moto(site: AwsSite) -> Child:
    program = moto_server_program()
    if program is None:
        raise UnavailableError(
            "the platforms quickstart needs moto's server (AWS on this machine)", hint=INSTALL
        )
    return start_child(
        "moto's server",
        [program, "-H", "127.0.0.1", "-p", str(site.port)],
        site.folder / "moto.log",
        lambda: _answers(f"{site.endpoint_url}/moto-api/"),
        timeout_s=30.0,
    )


def create_site(site: AwsSite) -> str:
    """The bucket and a CloudFront distribution with it as its origin; the distribution's id."""
    s3 = site.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(_PUBLIC_READ))  # a public site
    answer = site.client("cloudfront").create_distribution(
        DistributionConfig=distribution_config(
            BUCKET, "backout-quickstart", "backout quickstart: the Badminton Group front end"
        )
    )
    distribution_id: str = answer["Distribution"]["Id"]
    return distribution_id


def distribution_config(bucket: str, caller_reference: str, comment: str) -> dict[str, Any]:
    """A CloudFront distribution with `bucket` as its one origin, caching nothing long."""
    return {
        "CallerReference": caller_reference,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "site",
                    "DomainName": f"{bucket}.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "site",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "Comment": comment,
        "Enabled": True,
    }


def completed_invalidations(site: AwsSite, distribution_id: str) -> list[str]:
    """The ids of the distribution's invalidations CloudFront says are complete."""
    cloudfront = site.client("cloudfront")
    listed = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    return [
        item["Id"]
        for item in listed.get("Items", [])
        if item["Status"].lower() == "completed"  # AWS: Completed; moto: COMPLETED
    ]


@contextmanager
def aws_credentials() -> Iterator[None]:
    """moto's keys in this process's environment while the story runs (boto3's chain reads
    them, as it would read a real pipeline's); the caller's own are put back after."""
    saved = {name: os.environ.get(name) for name in (*CREDENTIALS, "AWS_SESSION_TOKEN")}
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False
