"""The `dns:` section: each mistake named by its key, by `backout check`, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from backout.config import load_config
from backout.dns import RecordSet, dns_provider_for
from backout.errors import ConfigError
from backout.runtime import validate_plugins


def _config(tmp_path: Path, *records: dict[str, Any]) -> Path:
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump({"project": "dns", "dns": list(records)}))
    return path


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": "www.example.com",
        "zone": "example.com",
        "provider": {"type": "fake"},
    }
    record.update(changes)
    return record


def _problems_or_none(config: Any) -> list[str]:
    try:
        validate_plugins(config)
    except ConfigError as refused:
        return refused.problems
    return []


def _problems(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        validate_plugins(load_config(path))
    return "\n".join(raised.value.problems)


def test_a_record_of_the_fake_provider_loads_with_type_a_by_default(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, _record(name="WWW.Example.com.")))
    validate_plugins(config)

    assert config.dns_record("www.example.com").type == "A"


def test_a_name_outside_its_zone_is_named(tmp_path: Path) -> None:
    said = _problems(_config(tmp_path, _record(name="www.example.org")))

    assert "dns[0]: name 'www.example.org' is not in zone 'example.com'" in said


@pytest.mark.parametrize("kind", ["AAA", "BOGUS", "SOA", ""])
def test_a_record_type_no_server_serves_is_named_with_the_known_ones(
    tmp_path: Path, kind: str
) -> None:
    said = _problems(_config(tmp_path, _record(type=kind)))

    assert "dns[0].type: expected a record type, one of A, AAAA, AFSDB, CAA" in said
    assert f"got {kind!r}" in said


@pytest.mark.parametrize("kind", ["DNAME", "loc", "URI"])
def test_a_record_type_bind_serves_beyond_route53_loads(tmp_path: Path, kind: str) -> None:
    config = load_config(_config(tmp_path, _record(type=kind)))

    assert config.dns_record("www.example.com").type == kind.upper()


def test_a_name_listed_twice_is_named(tmp_path: Path) -> None:
    said = _problems(_config(tmp_path, _record(), _record(type="AAAA")))

    assert "dns[1].name: 'www.example.com' is listed already as dns[0]" in said


def test_an_unknown_provider_type_lists_the_known_ones(tmp_path: Path) -> None:
    said = _problems(_config(tmp_path, _record(provider={"type": "cloudflare"})))

    assert "dns[0].provider.type: unknown DNS provider 'cloudflare'" in said
    assert "fake, rfc2136, route53" in said


def test_rfc2136_needs_exactly_one_secret_source(tmp_path: Path) -> None:
    provider = {"type": "rfc2136", "server": "127.0.0.1", "key_name": "backout"}
    said = _problems(_config(tmp_path, _record(provider=provider)))

    assert "dns[0].provider" in said
    assert "give exactly one of 'key_secret_env' or 'key_file'" in said


def test_rfc2136_names_a_server_that_is_no_address_and_an_unknown_algorithm(
    tmp_path: Path,
) -> None:
    provider = {
        "type": "rfc2136",
        "server": "not a host",
        "key_name": "backout",
        "key_algorithm": "md4",
        "key_secret_env": "DNS_KEY",
    }
    said = _problems(_config(tmp_path, _record(provider=provider)))

    assert "dns[0].provider.server: expected the server's IP address" in said
    assert "dns[0].provider.key_algorithm: Input should be 'hmac-md5'" in said


def test_rfc2136_takes_a_tsig_algorithm_however_bind_writes_it(tmp_path: Path) -> None:
    provider = {
        "type": "rfc2136",
        "server": "127.0.0.1",
        "key_name": "backout",
        "key_algorithm": "HMAC-SHA512.",
        "key_secret_env": "DNS_KEY",
    }
    config = load_config(_config(tmp_path, _record(provider=provider)))

    assert "key_algorithm" not in "\n".join(_problems_or_none(config))


def test_route53_needs_its_hosted_zone_id(tmp_path: Path) -> None:
    said = _problems(_config(tmp_path, _record(provider={"type": "route53"})))

    assert "dns[0].provider.hosted_zone_id" in said


def test_an_unset_secret_variable_is_named_when_the_key_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_TSIG", raising=False)
    provider = {
        "type": "rfc2136",
        "server": "127.0.0.1",
        "key_name": "backout",
        "key_secret_env": "NO_SUCH_TSIG",
    }
    config = load_config(_config(tmp_path, _record(provider=provider)))

    with pytest.raises(ConfigError) as raised:
        dns_provider_for(config, "www.example.com").apply(
            RecordSet.of("www.example.com", "A", ["192.0.2.1"], 60)
        )

    assert (
        "dns[0].provider.key_secret_env: the environment variable NO_SUCH_TSIG is not set"
        in (raised.value.problems[0])
    )
