"""How the AWS drivers translate botocore's errors: retryable or not, and never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from driver_helpers import build_driver

from backout.drivers._aws import translate
from backout.errors import DriverError
from tests.aws_support import Moto, unique


def client_error(code: str, status: int) -> ClientError:
    answer = {
        "Error": {"Code": code, "Message": "said AWS"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(answer, "UpdateService")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ThrottlingException", 400, True),
        ("SlowDown", 503, True),
        ("InternalFailure", 500, True),
        ("AccessDeniedException", 403, False),
        ("InvalidParameterException", 400, False),
    ],
)
def test_throttling_and_server_errors_are_worth_retrying(
    code: str, status: int, retryable: bool
) -> None:
    error = translate(client_error(code, status), "updating service web")
    assert error.retryable is retryable
    assert str(error).startswith("updating service web: ")
    assert code in str(error)


def test_a_missing_resource_gets_the_callers_words() -> None:
    error = translate(
        client_error("ClusterNotFoundException", 400),
        "reading x",
        not_found="cluster c does not exist",
    )
    assert str(error) == "reading x: cluster c does not exist"
    assert not error.retryable


def test_moto_no_credentials_is_a_clear_error_without_a_traceback(
    tmp_path: Path, moto: Moto, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    driver = build_driver("static-s3", moto.settings(bucket=unique("site")), tmp_path)
    with pytest.raises(DriverError, match="no AWS credentials found") as raised:
        driver.current()
    assert not raised.value.retryable


def test_moto_an_unknown_profile_names_the_setting(
    tmp_path: Path, moto: Moto, aws_env: None
) -> None:
    driver = build_driver(
        "ecs", moto.settings(cluster="c", service="s", family="f", profile="nobody"), tmp_path
    )
    with pytest.raises(DriverError, match="cannot set up the AWS ecs client") as raised:
        driver.current()
    assert "profile" in str(raised.value)
