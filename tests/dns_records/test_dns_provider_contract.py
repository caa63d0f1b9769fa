"""The DNS provider contract (backout/dns/base.py), once per provider: RFC 2136 against a real
BIND, Route53 against moto's server, and the fake. Then what each real one says when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from backout.dns import DnsError, DnsProvider, RecordSet
from backout.errors import ExitCode
from backout.quickstart.platforms.bind import DnsSite
from tests.bind_support import Bind
from tests.dns_records.conftest import SEEDED, Moto, rfc2136, route53
from tests.prometheus_support import free_port

NEW = RecordSet.of("www.example.com", "A", ["198.51.100.7", "198.51.100.8"], 60)


def test_read_answers_the_record_set_as_it_is(provider: DnsProvider) -> None:
    assert provider.read("www.example.com", "A") == SEEDED


def test_read_of_a_name_that_has_no_record_is_none(provider: DnsProvider) -> None:
    assert provider.read("nothing-here.example.com", "A") is None


def test_apply_replaces_every_value_and_the_ttl(provider: DnsProvider) -> None:
    provider.apply(NEW)

    assert provider.read("www.example.com", "A") == NEW


def test_apply_is_idempotent(provider: DnsProvider) -> None:
    provider.apply(NEW)
    provider.apply(NEW)

    assert provider.read("www.example.com", "A") == NEW


def test_apply_back_to_the_previous_set(provider: DnsProvider) -> None:
    provider.apply(NEW)
    provider.apply(SEEDED)

    assert provider.read("www.example.com", "A") == SEEDED


def test_rfc2136_on_bind_the_server_itself_answers_the_update(bind: Bind) -> None:
    rfc2136(bind).apply(NEW)

    assert bind.answers("www.example.com") == ["198.51.100.7", "198.51.100.8"]
    rfc2136(bind).apply(SEEDED)


def test_rfc2136_on_bind_a_wrong_key_is_not_allowed_to_update_the_zone(
    bind: Bind, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_TSIG", "c2VjcmV0LWJ1dC1ub3QtdGhlLXJpZ2h0LW9uZQ==")
    wrong = rfc2136(bind, key_file=None, key_secret_env="WRONG_TSIG")
    rfc2136(bind).apply(SEEDED)  # the module's server: not what another test left there

    with pytest.raises(DnsError) as raised:
        wrong.apply(NEW)

    assert "the key 'backout' is not allowed to update zone example.com" in raised.value.message
    assert not raised.value.retryable
    assert "c2VjcmV0LWJ1dC1ub3QtdGhlLXJpZ2h0LW9uZQ==" not in str(raised.value)
    assert bind.answers("www.example.com") == ["192.0.2.10"], "the zone is unchanged"


def test_rfc2136_a_key_of_another_name_is_not_allowed_either(bind: Bind) -> None:
    with pytest.raises(DnsError, match="key 'intruder' is not allowed to update zone"):
        rfc2136(bind, key_name="intruder").apply(NEW)


def test_rfc2136_server_down_is_a_retryable_error() -> None:
    down = Bind(DnsSite(Path("/nonexistent"), free_port()), child=None)  # type: ignore[arg-type]
    provider = rfc2136(down, key_file=None, key_secret_env="PATH")

    with pytest.raises(DnsError) as raised:
        provider.read("www.example.com", "A")

    assert raised.value.retryable
    assert raised.value.exit_code == ExitCode.UNAVAILABLE  # the CLI's 8: cannot be reached
    assert f"127.0.0.1:{down.port} is not reachable" in raised.value.message


def test_route53_on_moto_an_unknown_hosted_zone_is_not_retryable(moto: Moto) -> None:
    with pytest.raises(DnsError) as raised:
        route53(moto, "ZNOSUCHZONE").apply(NEW)

    assert "NoSuchHostedZone" in raised.value.message
    assert not raised.value.retryable


def test_route53_endpoint_down_is_a_retryable_error() -> None:
    class Down(Moto):
        pass

    down = Down(f"http://127.0.0.1:{free_port()}", None)  # type: ignore[arg-type]
    with pytest.raises(DnsError) as raised:
        route53(down, "Z1").read("www.example.com", "A")

    assert raised.value.retryable
    assert raised.value.exit_code == ExitCode.UNAVAILABLE
    assert "Route53 is not reachable" in raised.value.message
