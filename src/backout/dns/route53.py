"""The `route53` DNS provider: a record set of one hosted zone, through boto3.

`apply` is one `change_resource_record_sets` UPSERT (atomic in Route53), then `get_change` is
polled until the change is INSYNC or `timeout` has passed. Credentials come from boto3's own
chain (AWS_* environment variables, a profile, an instance role): never from
backout.yaml.
`endpoint_url` points boto3 elsewhere (moto's server in the tests).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from pydantic import Field

from backout.dns.base import DnsError, DnsUnreachableError, RecordSet, normal_name
from backout.dns.context import DnsContext
from backout.durations import PositiveDuration
from backout.http_url import HttpUrl
from backout.registry import PluginSettings

_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
}
_POLL_S = 1.0


class Route53Settings(PluginSettings):
    hosted_zone_id: str = Field(min_length=1, description="The hosted zone's id (Z0123...).")
    region: str = Field("us-east-1", description="The AWS region of the client.")
    endpoint_url: HttpUrl | None = Field(None, description="Another endpoint (e.g. moto's server).")
    timeout: PositiveDuration = Field(
        timedelta(minutes=5), description="How long a change may take to be INSYNC."
    )


class Route53Provider:
    """The record sets of one hosted zone; see the module doc."""

    def __init__(self, settings: Route53Settings, context: DnsContext) -> None:
        self._settings = settings
        self._zone_id = settings.hosted_zone_id
        self._client_made: Any = None

    def read(self, name: str, rtype: str) -> RecordSet | None:
        absolute = normal_name(name) + "."
        answer = self._call(
            "read",
            "list_resource_record_sets",
            HostedZoneId=self._zone_id,
            StartRecordName=absolute,
            StartRecordType=rtype,
            MaxItems="1",
        )
        for found in answer.get("ResourceRecordSets", []):
            if normal_name(found["Name"]) == normal_name(name) and found["Type"] == rtype:
                values = [r["Value"] for r in found.get("ResourceRecords", [])]
                return RecordSet.of(name, rtype, values, int(found.get("TTL", 0)))
        return None

    def apply(self, record: RecordSet) -> None:
        change = {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": record.name + ".",
                "Type": record.rtype,
                "TTL": record.ttl,
                "ResourceRecords": [{"Value": value} for value in record.values],
            },
        }
        answer = self._call(
            "change",
            "change_resource_record_sets",
            HostedZoneId=self._zone_id,
            ChangeBatch={"Comment": "backout", "Changes": [change]},
        )
        self._wait_in_sync(answer["ChangeInfo"], record)

    def _wait_in_sync(self, info: dict[str, Any], record: RecordSet) -> None:
        deadline = time.monotonic() + self._settings.timeout.total_seconds()
        while str(info.get("Status", "")).upper() != "INSYNC":
            if time.monotonic() >= deadline:
                raise DnsError(
                    f"Route53 change {info.get('Id')} of {record.name} {record.rtype} was not "
                    f"INSYNC after {self._settings.timeout.total_seconds():g} s "
                    f"(status {info.get('Status')})",
                    retryable=True,
                )
            time.sleep(_POLL_S)  # Route53's own pace: a change takes seconds to propagate
            info = self._call("wait", "get_change", Id=info["Id"])["ChangeInfo"]

    def _call(self, what: str, method: str, **arguments: Any) -> dict[str, Any]:
        """One Route53 request; boto's errors as DnsError."""
        try:
            answer: dict[str, Any] = getattr(self._client(), method)(**arguments)
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            said = error.response.get("Error", {}).get("Message", str(error))
            hint = None
            if code == "NoSuchHostedZone":
                hint = "check hosted_zone_id in the record's provider section"
            raise DnsError(
                f"Route53 refused to {what} in hosted zone {self._zone_id}: {code}: {said}",
                retryable=code in _RETRYABLE_CODES,
                hint=hint,
            ) from None
        except (
            botocore.exceptions.ConnectionError,
            botocore.exceptions.HTTPClientError,
            OSError,
        ) as error:
            raise DnsUnreachableError(
                f"Route53 is not reachable ({what} in hosted zone {self._zone_id}): {error}",
                retryable=True,
            ) from None
        except botocore.exceptions.BotoCoreError as error:  # a profile, region or credentials
            raise DnsError(
                f"Route53 could not be asked to {what} in hosted zone {self._zone_id}: {error}",
                hint="check the provider's profile, region and credentials",
            ) from None
        return answer

    def _client(self) -> Any:
        if self._client_made is None:
            self._client_made = boto3.client(
                "route53",
                region_name=self._settings.region,
                endpoint_url=self._settings.endpoint_url,
                # Few retries here: a failed step is retried by the run, with its own back-off.
                config=botocore.config.Config(
                    retries={"max_attempts": 2, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
        return self._client_made
