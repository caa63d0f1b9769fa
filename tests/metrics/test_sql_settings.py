"""A data-checks section that cannot work is refused when the config is read, naming its key,
and never with a password in the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backout.errors import ConfigError
from tests.metrics.sql_support import build_sql

MEMBERS = {"name": "members", "count": "SELECT count(*) FROM members"}
SECRET = "hunter2-secret"


def _refused(tmp_path: Path, **settings: Any) -> ConfigError:
    section = {"url": "sqlite:///club.db", "checks": [MEMBERS], **settings}
    with pytest.raises(ConfigError) as raised:
        build_sql({k: v for k, v in section.items() if v is not None}, tmp_path)
    return raised.value


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"colour": "blue"}, "services.club.metrics.colour: unknown key"),
        ({"checks": []}, "services.club.metrics.checks: List should have at least 1 item"),
        (
            {"checks": [MEMBERS, {**MEMBERS, "count": "SELECT 1"}]},
            "services.club.metrics.checks: two checks are named 'members'",
        ),
        (
            {"checks": [{"name": "Members!", "count": "SELECT 1"}]},
            "services.club.metrics.checks[0].name: 'Members!' is not a check name",
        ),
        (
            {"checks": [{"name": "both", "count": "SELECT 1", "invariant": "SELECT 0"}]},
            "services.club.metrics.checks[0]: give exactly one of 'count', 'invariant' or "
            "'freshness' (got count, invariant)",
        ),
        (
            {"checks": [{"name": "members", "count": "SELECT 1", "limit": 3}]},
            "services.club.metrics.checks[0].limit: unknown key",
        ),
        ({"checks": [{"name": "blank", "count": "  "}]}, "checks[0].count: the query is empty"),
        ({"url": None}, "services.club.metrics: give exactly one of 'url' or 'url_env'"),
        ({"url_env": "CLUB_DB"}, "services.club.metrics: give exactly one of 'url' or 'url_env'"),
        ({"interval": "10ms"}, "services.club.metrics.interval: must be at least 100ms"),
        ({"interval": "2h"}, "services.club.metrics.interval: must be at most 1h"),
        ({"timeout": "5m"}, "services.club.metrics.timeout: must be at most 1m"),
        (
            {"interval": "1m", "window": "90s"},
            "services.club.metrics: window (90s) must hold at least two rounds of checks",
        ),
        ({"url": "not a url"}, "services.club.metrics.url: not a database URL such as"),
        ({"url": "sqlite://"}, "services.club.metrics.url: a SQLite URL names its file"),
        (
            {"url": f"mysql://club:{SECRET}@db/club"},
            "services.club.metrics.url: backout reads PostgreSQL or SQLite databases, not mysql",
        ),
        (
            {"url": f"postgresql+psycopg2://club:{SECRET}@db/club"},
            "services.club.metrics.url: PostgreSQL is read through psycopg",
        ),
        (
            {"url": f"postgresql://club:{SECRET}@db:no-port/club"},
            "services.club.metrics.url: not a database URL",
        ),
    ],
)
def test_a_section_that_cannot_work_is_refused_naming_its_key(
    settings: dict[str, Any], problem: str, tmp_path: Path
) -> None:
    refused = _refused(tmp_path, **settings)

    assert any(problem in p for p in refused.problems), refused.problems
    assert SECRET not in str(refused)


def test_url_env_names_a_variable_that_must_be_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLUB_DB", raising=False)

    refused = _refused(tmp_path, url=None, url_env="CLUB_DB")

    assert refused.problems == [
        "services.club.metrics.url_env: the environment variable CLUB_DB is not set"
    ]


def test_a_url_from_the_environment_is_checked_and_its_password_kept_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUB_DB", f"oracle://club:{SECRET}@db/club")

    refused = _refused(tmp_path, url=None, url_env="CLUB_DB")

    assert refused.problems == [
        "services.club.metrics.url_env: CLUB_DB holds backout reads PostgreSQL or SQLite "
        "databases, not oracle (such as postgresql://app@db.internal/shop or sqlite:///shop.db)"
    ]
    assert SECRET not in str(refused)


def test_a_url_from_the_environment_builds_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUB_DB", f"postgresql://club:{SECRET}@127.0.0.1:5999/club")

    source = build_sql({"url_env": "CLUB_DB", "checks": [MEMBERS]}, tmp_path)

    assert source.provides.names() == ["members_count", "members_drop"]
    assert source.sample_interval is not None
    assert source.sample_interval.total_seconds() == 30, "the default interval"
