"""What the AWS drivers (`static-s3`, `ecs`) share: their connection settings, a boto3 client
built from them, and the translation of botocore's errors into DriverError.

Credentials come from boto3's normal chain (environment, shared files, `profile`, instance or
task role); backout never reads nor prints them. botocore's messages name the operation, the
error code and the resource, never a secret, and every BackoutError is redacted besides.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from pydantic import Field

from backout.errors import DriverError
from backout.http_url import HttpUrl
from backout.registry import PluginSettings

# Codes AWS answers when trying again later can help (besides any HTTP 5xx).
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        "ServerException",
    }
)


class AwsSettings(PluginSettings):
    """Where the AWS APIs are and who to be there; shared by the AWS drivers."""

    region: str | None = Field(
        None,
        description="The AWS region (e.g. `eu-west-1`); default: boto3's (AWS_REGION, the "
        "profile's `region`).",
    )
    endpoint_url: HttpUrl | None = Field(
        None,
        description="Another endpoint for every API call: moto, localstack, a VPC endpoint. "
        "Default: AWS's own.",
    )
    profile: str | None = Field(
        None, description="A profile of the shared AWS config files; default: boto3's chain."
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=10,
        description="Tries of one API call on throttling or a dropped connection (boto3's "
        "standard retries) before the driver reports a retryable error.",
    )


def aws_client(settings: AwsSettings, service: str) -> Any:
    """A boto3 client of `service` built from `settings` (boto3 is loaded only by a config that
    names an AWS driver: the drivers are registered lazily)."""
    config = Config(
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    try:
        session = boto3.session.Session(profile_name=settings.profile)
        return session.client(
            service,
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )
    except BotoCoreError as error:  # an unknown profile, no region, a bad endpoint URL
        raise DriverError(
            f"cannot set up the AWS {service} client: {error}",
            hint="check the driver's region, profile and endpoint_url",
        ) from None


def error_code(error: BaseException) -> str:
    """The AWS error code of a ClientError ("NoSuchKey"), or "" for any other error."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    code: str = response.get("Error", {}).get("Code", "")
    return code


def _http_status(error: BaseException) -> int:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return 0
    status: int = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status


def translate(error: Exception, doing: str, *, not_found: str | None = None) -> DriverError:
    """A DriverError saying what failed while `doing` (e.g. "listing s3://site/"), retryable
    for throttling, 5xx answers and lost connections; `not_found` replaces botocore's message
    when the resource named is missing."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return DriverError(
            f"{doing}: no AWS credentials found",
            hint="give them as boto3 looks for them: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "a `profile`, or an instance/task role",
        )
    if isinstance(error, ConnectionError | HTTPClientError):
        return DriverError(f"{doing}: the AWS endpoint cannot be reached ({error})", retryable=True)
    if isinstance(error, ClientError):
        code, status = error_code(error), _http_status(error)
        if not_found is not None and (
            status == 404 or code.endswith(("NotFound", "NotFoundException"))
        ):
            return DriverError(f"{doing}: {not_found}")
        retryable = code in _RETRYABLE_CODES or status >= 500
        return DriverError(f"{doing}: {error}", retryable=retryable)
    return DriverError(f"{doing}: {error}", retryable=False)


@contextmanager
def aws_call(doing: str, *, not_found: str | None = None) -> Iterator[None]:
    """Translate botocore's errors raised inside the block (see `translate`)."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise translate(error, doing, not_found=not_found) from None


def poll_until(
    done: Callable[[], str | None], timeout_s: float, waiting_for: str, *, first_pause: float = 0.2
) -> str:
    """Call `done` until it returns a text (what was reached), pausing 0.2 s then longer up to
    5 s between calls; a retryable DriverError names `waiting_for` when `timeout_s` is spent.

    boto3's own waiters are not used: moto's CloudFront never reports `Completed`, and their
    delays cannot follow a step's deadline."""
    deadline = time.monotonic() + timeout_s
    pause = first_pause
    while True:
        reached = done()
        if reached is not None:
            return reached
        left = deadline - time.monotonic()
        if left <= 0:
            raise DriverError(
                f"gave up waiting after {timeout_s:g}s for {waiting_for}", retryable=True
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, 5.0)
