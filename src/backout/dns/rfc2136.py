"""The `rfc2136` DNS provider: dynamic updates (RFC 2136) signed with a TSIG key, as `nsupdate`
sends them — to BIND, Knot, PowerDNS or any primary that takes them.

`apply` sends one UPDATE over TCP that replaces the record set whole (delete the rrset, add
every value: atomic on the server); `read` asks the same server over TCP, so a rollback is
verified by the very server that took the update. The key's secret comes from the environment
(`key_secret_env`) or a file (`key_file`, a `tsig-keygen` output or the bare secret), never from
backout.yaml, and is masked wherever text leaves backout.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
from pydantic import Field, field_validator, model_validator

from backout.dns.base import DnsError, DnsUnreachableError, RecordSet, normal_name
from backout.dns.context import DnsContext
from backout.durations import PositiveDuration
from backout.errors import ConfigError
from backout.redact import remember_secret
from backout.registry import PluginSettings

_SECRET_IN_KEY_FILE = re.compile(r'secret\s+"([^"]+)"')
_REFUSALS = {dns.rcode.NOTAUTH, dns.rcode.REFUSED}


class Rfc2136Settings(PluginSettings):
    server: str = Field(description="The primary server's address (an IP address).")
    port: int = Field(53, ge=1, le=65535, description="Its DNS port.")
    key_name: str = Field(min_length=1, description="The TSIG key's name, as the server knows it.")
    key_algorithm: Literal[
        "hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"
    ] = Field("hmac-sha256", description="The TSIG algorithm.")
    key_secret_env: str | None = Field(
        None, min_length=1, description="The environment variable holding the key's base64 secret."
    )
    key_file: str | None = Field(
        None,
        min_length=1,
        description="A file holding the key: `tsig-keygen` output, or the base64 secret alone "
        "(relative to the config file).",
    )
    timeout: PositiveDuration = Field(timedelta(seconds=10), description="Time per request.")

    @field_validator("key_algorithm", mode="before")
    @classmethod
    def _algorithm_as_dnspython_names_it(cls, value: object) -> object:
        # BIND and tsig-keygen write it `hmac-sha256`; `HMAC-SHA256.` is the same algorithm, and
        # RFC 2845 names MD5's `hmac-md5.sig-alg.reg.int`.
        if not isinstance(value, str):
            return value
        name = value.strip().rstrip(".").lower()
        return "hmac-md5" if name == "hmac-md5.sig-alg.reg.int" else name

    @field_validator("server")
    @classmethod
    def _an_ip_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(
                f"expected the server's IP address (127.0.0.1, ::1), got {value!r}"
            ) from None

    @model_validator(mode="after")
    def _one_secret(self) -> Rfc2136Settings:
        if (self.key_secret_env is None) == (self.key_file is None):
            raise ValueError("give exactly one of 'key_secret_env' or 'key_file'")
        return self


class Rfc2136Provider:
    """The records of `context.zone` on one RFC 2136 server; see the module doc."""

    def __init__(self, settings: Rfc2136Settings, context: DnsContext) -> None:
        self._settings = settings
        self._context = context
        self._zone = dns.name.from_text(context.zone)
        self._where = f"{settings.server}:{settings.port}"

    def read(self, name: str, rtype: str) -> RecordSet | None:
        query = dns.message.make_query(_absolute(name), dns.rdatatype.from_text(rtype))
        response = self._send(query, f"read {name} {rtype}")
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return None
        if rcode != dns.rcode.NOERROR:
            raise DnsError(
                f"the DNS server {self._where} answered {dns.rcode.to_text(rcode)} to a query "
                f"for {name} {rtype}",
                retryable=rcode == dns.rcode.SERVFAIL,
            )
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rtype):
                values = [rdata.to_text() for rdata in rrset]
                return RecordSet.of(name, rtype, values, rrset.ttl)
        return None

    def apply(self, record: RecordSet) -> None:
        keyring, key = self._key()
        update = dns.update.UpdateMessage(
            self._zone, keyring=keyring, keyname=key, keyalgorithm=self._settings.key_algorithm
        )
        update.replace(_absolute(record.name), record.ttl, record.rtype, *record.values)
        response = self._send(update, f"update {record.name} {record.rtype}")
        rcode = response.rcode()
        if rcode in _REFUSALS:
            raise self._not_allowed(dns.rcode.to_text(rcode))
        if rcode != dns.rcode.NOERROR:
            raise DnsError(
                f"the DNS server {self._where} refused the update of {record.name} "
                f"{record.rtype}: {dns.rcode.to_text(rcode)}",
                retryable=rcode == dns.rcode.SERVFAIL,
            )

    def _send(self, message: dns.message.Message, what: str) -> dns.message.Message:
        """`message` over TCP to the server; its errors as DnsError."""
        try:
            return dns.query.tcp(
                message,
                self._settings.server,
                port=self._settings.port,
                timeout=self._settings.timeout.total_seconds(),
            )
        except dns.tsig.PeerError as error:
            raise self._not_allowed(f"{type(error).__name__}: {error}") from None
        except dns.exception.Timeout:
            raise DnsUnreachableError(
                f"the DNS server {self._where} did not answer within "
                f"{self._settings.timeout.total_seconds():g} s ({what})",
                retryable=True,
            ) from None
        except (OSError, EOFError) as error:
            raise DnsUnreachableError(
                f"the DNS server {self._where} is not reachable ({what}): {error}", retryable=True
            ) from None

    def _not_allowed(self, said: str) -> DnsError:
        return DnsError(
            f"the key {self._settings.key_name!r} is not allowed to update zone "
            f"{self._context.zone} on {self._where} (the server said {said})",
            hint=f"check the key's secret and the zone's allow-update/update-policy for key "
            f"{self._settings.key_name!r}",
        )

    def _key(self) -> tuple[Any, dns.name.Name]:
        secret = self._secret()
        remember_secret(secret)
        key = dns.name.from_text(self._settings.key_name)
        return dns.tsigkeyring.from_text({self._settings.key_name: secret}), key

    def _secret(self) -> str:
        settings, where = self._settings, f"{self._context.where}.provider"
        source = str(self._context.config_file)
        if settings.key_secret_env is not None:
            value = os.environ.get(settings.key_secret_env)
            if not value:
                problem = f"{where}.key_secret_env: the environment variable "
                raise ConfigError(source, [problem + f"{settings.key_secret_env} is not set"])
            return value.strip()
        path = self._context.resolve(str(settings.key_file))
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigError(source, [f"{where}.key_file: cannot read {path}: {error}"]) from None
        found = _SECRET_IN_KEY_FILE.search(text)
        return found.group(1) if found else text.strip()


def _absolute(name: str) -> str:
    return normal_name(name) + "."
