"""A configuration a person got wrong is refused before anything runs, with the line or key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from backout.config import load_config
from backout.errors import ConfigError, ExitCode
from backout.operations.config_check import check_config
from backout.safe_yaml import MAX_EXPANDED_NODES, MAX_FILE_BYTES

SERVICE = "  api:\n    tier: critical\n    driver: {type: fake}\n"


def refusal(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "backout.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.exit_code is ExitCode.INVALID_CONFIG
    assert str(path) in str(raised.value)
    return raised.value


def test_a_refused_file_says_plug_in_settings_are_checked_in_a_second_round(
    tmp_path: Path,
) -> None:
    error = refusal(tmp_path, "project: shop\nwatch: {interval: 0s}\n")

    assert error.hint is not None
    assert "settings of each plug-in (driver, router, check, provider)" in error.hint
    assert "checked once these are fixed" in error.hint


def test_a_service_defined_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    text = "project: shop\nservices:\n" + SERVICE + SERVICE.replace("critical", "core")

    error = refusal(tmp_path, text)

    assert error.problems == [
        "line 6: key 'api' is given twice in the same mapping (first on line 3); keep one"
    ]


def test_a_key_given_twice_inside_a_service_is_refused(tmp_path: Path) -> None:
    text = "project: shop\nservices:\n" + SERVICE + "    tier: core\n"

    assert refusal(tmp_path, text).problems[0].startswith("line 6: key 'tier' is given twice")


def test_a_key_twice_in_one_flow_mapping_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "project: shop\nwatch: {interval: 1s, interval: 2s}\n")

    assert "key 'interval' is given twice" in error.problems[0]


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    text = (
        "project: shop\n"
        "defaults: &svc\n  tier: critical\n  driver: {type: fake}\n"
        "services:\n  api:\n    <<: *svc\n    tier: core\n"
    )
    path = tmp_path / "backout.yaml"
    path.write_text(text.replace("defaults: &svc", "x-defaults: &svc"), encoding="utf-8")

    # x-defaults is an unknown key, but the merge itself is not a duplicate
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems == [
        "x-defaults: unknown key (misspelt, or not in this version of backout)"
    ]


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "project: shop\n" + "\n".join(lines) + "\n"

    error = refusal(tmp_path, text)

    assert (
        f"more than {MAX_EXPANDED_NODES:,} values once its aliases are followed"
        in (error.problems[0])
    )


def test_a_file_of_too_many_plain_values_is_refused_as_too_large_not_for_aliases(
    tmp_path: Path,
) -> None:
    text = "project: shop\n" + "".join(f"k{i}: v\n" for i in range(MAX_EXPANDED_NODES // 2))
    assert len(text) < MAX_FILE_BYTES

    (problem,) = refusal(tmp_path, text).problems

    assert f"the document has more than {MAX_EXPANDED_NODES:,} values" in problem
    assert "alias" not in problem


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "project: shop\nloop: &me [*me]\n")

    assert "refers to itself" in error.problems[0]


def test_a_file_over_the_size_limit_is_refused_without_parsing_it(tmp_path: Path) -> None:
    text = "project: shop\n" + "".join(f"k{i}: {'v' * 60}\n" for i in range(20_000))
    assert len(text) > MAX_FILE_BYTES

    error = refusal(tmp_path, text)

    assert error.problems == [
        "the file is larger than 1024 KiB; a configuration is a few kilobytes — is this the "
        "right file?"
    ]


def test_thousands_of_problems_are_summarised(tmp_path: Path) -> None:
    text = "project: shop\n" + "".join(f"unknown{i}: 1\n" for i in range(5000))

    error = refusal(tmp_path, text)

    assert error.problem_count == 5000
    assert len(error.problems) == 20
    assert str(error).count("\n  - ") == 20
    assert "... and 4980 more problem(s)" in str(error)


def test_nesting_too_deep_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "project: shop\nx: " + "[" * 5000 + "]" * 5000 + "\n")

    # libyaml stops at its own depth limit; the pure-Python parser at the recursion limit
    assert len(error.problems) == 1
    assert "nest" in error.problems[0]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"watch": {"interval": 0}}, "watch.interval: must be at least 10ms, got 0s"),
        ({"watch": {"interval": "1ms"}}, "watch.interval: must be at least 10ms, got 1ms"),
        ({"probe": {"url": "http://x", "interval": 0}}, "probe.interval: must be at least 10ms"),
        ({"probe": {"url": "http://x", "timeout": "0s"}}, "probe.timeout: must be longer than 0s"),
        ({"probe": {"url": "http://x", "window": "500ms"}}, "probe.window: must be at least 1s"),
        ({"health_timeout": 0}, "health_timeout: must be longer than 0s"),
        ({"steps": {"timeout": 0}}, "steps.timeout: must be longer than 0s"),
    ],
)
def test_zero_waits_that_would_busy_loop_are_refused(
    tmp_path: Path, section: dict[str, object], expected: str
) -> None:
    service = {"tier": "critical", "driver": {"type": "fake"}, **section}
    if "watch" in section:
        data: dict[str, object] = {"project": "shop", **section}
        expected_key = expected
    else:
        data = {"project": "shop", "services": {"api": service}}
        expected_key = "services.api." + expected

    error = refusal(tmp_path, yaml.safe_dump(data))

    assert any(problem.startswith(expected_key) for problem in error.problems), error.problems


def test_objectives_of_zero_are_refused(tmp_path: Path) -> None:
    data = {"project": "shop", "objectives": {"rto": {"critical": 0}, "rpo": {"user_data": 0}}}

    problems = refusal(tmp_path, yaml.safe_dump(data)).problems

    assert "objectives.rto.critical: must be longer than 0s, got 0s" in problems
    assert "objectives.rpo.user_data: must be longer than 0s, got 0s" in problems


@pytest.mark.parametrize("environment", ["", " ", "prod env", "-prod", "x" * 64, "prod/eu"])
def test_an_environment_name_must_be_a_plain_word(tmp_path: Path, environment: str) -> None:
    data = {"project": "shop", "environment": environment}

    problems = refusal(tmp_path, yaml.safe_dump(data)).problems

    assert problems[0].startswith("environment: expected 1-63 letters, digits")


def test_an_empty_project_name_is_refused(tmp_path: Path) -> None:
    problems = refusal(tmp_path, yaml.safe_dump({"project": ""})).problems

    assert problems == ["project: String should have at least 1 character"]


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/backout",
        "sqlite://state.db",
        "sqlite:///",
        "state.db",
        "postgresql://",
        "",
    ],
)
def test_an_unsupported_state_database_is_refused(tmp_path: Path, url: str) -> None:
    data = {"project": "shop", "state": {"database": url}}

    problems = refusal(tmp_path, yaml.safe_dump(data)).problems

    assert problems[0].startswith("state"), problems


def test_a_state_url_whose_password_is_not_percent_encoded_is_refused_without_quoting_it(
    tmp_path: Path,
) -> None:
    data = {"project": "shop", "state": {"database": "postgresql://app:pa#ss99XYZ@db/backout"}}

    problems = refusal(tmp_path, yaml.safe_dump(data)).problems

    assert "a password's # / ? @ written %23 %2F %3F %40" in problems[0], problems
    assert "99XYZ" not in " ".join(problems)
    assert "'pa'" not in " ".join(problems)


def test_an_unsupported_backout_database_url_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOUT_DATABASE_URL", "mysql://root:hunter2@db/backout")
    path = tmp_path / "backout.yaml"
    path.write_text("project: shop\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    error = raised.value
    assert error.exit_code is ExitCode.INVALID_CONFIG
    assert error.path == "$BACKOUT_DATABASE_URL"
    assert "expected sqlite:///PATH or postgresql://USER@HOST/DB" in error.problems[0]
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    "interval",
    ["99999999999999999999h", "100000000000000000000000s", "99999999999999999999", "1" * 400,
     ".inf", ".nan", "367d", "true"],
)  # fmt: skip
def test_a_duration_beyond_a_year_or_not_a_number_is_refused(tmp_path: Path, interval: str) -> None:
    error = refusal(tmp_path, f"project: shop\nwatch:\n  interval: {interval}\n")

    assert len(error.problems) == 1
    assert error.problems[0].startswith("watch.interval: "), error.problems
    assert "at most 366d" in error.problems[0] or "expected a duration" in error.problems[0]


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_number_that_is_not_finite_is_refused(tmp_path: Path, value: str) -> None:
    """`above: .nan` compares false with every reading: the trigger would fire on health."""
    text = (
        "project: shop\nservices:\n  api:\n    tier: critical\n    driver: {type: fake}\n"
        f"    triggers: [{{name: t, metric: error_rate, above: {value}}}]\n"
    )
    error = refusal(tmp_path, text)

    assert error.problems == ["services.api.triggers[0].above: Input should be a finite number"], (
        error.problems
    )


def test_a_plug_in_number_that_is_not_finite_is_refused_by_check(tmp_path: Path) -> None:
    path = tmp_path / "backout.yaml"
    path.write_text(
        "project: shop\nservices:\n  api:\n    tier: critical\n    driver: {type: fake}\n"
        "    metrics: {type: fake, values: {error_rate: .nan}}\n"
    )
    with pytest.raises(ConfigError) as raised:
        check_config(path)

    assert any(
        p.startswith("services.api.metrics.values.error_rate: Input should be a finite number")
        for p in raised.value.problems
    ), raised.value.problems


def test_a_duration_in_digits_other_than_ascii_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "project: shop\nwatch:\n  interval: '\uff11s'\n")

    assert error.problems[0].startswith("watch.interval: "), error.problems


def _services(**depends_on: list[str]) -> str:
    lines = ["project: shop", "services:"]
    for name, needs in depends_on.items():
        lines.append(f"  {name}: {{tier: core, driver: {{type: fake}}, depends_on: {needs}}}")
    return "\n".join(lines) + "\n"


def test_a_dependency_cycle_is_refused_naming_it(tmp_path: Path) -> None:
    error = refusal(tmp_path, _services(web=["api"], api=["worker"], worker=["web"]))

    assert error.problems == [
        "(top level): services depend on each other in a cycle: "
        "api → worker → web → api; remove one depends_on"
    ]


def test_a_dependency_on_no_other_service_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, _services(web=["api", "web"], api=[]))

    assert error.problems == [
        "(top level): services.web.depends_on names 'web', not another service (known: api)"
    ]


@pytest.mark.parametrize("name", ["db:main", "my api", "-x"])
def test_a_service_name_that_cannot_name_a_subject_is_refused(tmp_path: Path, name: str) -> None:
    error = refusal(
        tmp_path, f"project: shop\nservices:\n  '{name}': {{tier: core, driver: {{type: fake}}}}\n"
    )

    assert "names are 1-63 letters, digits" in error.problems[0]


def test_dependencies_come_first_and_ties_go_by_name(tmp_path: Path) -> None:
    path = tmp_path / "backout.yaml"
    path.write_text(_services(web=["api"], admin=["api"], api=["db-proxy"], **{"db-proxy": []}))

    config = load_config(path)

    assert config.dependency_order(["web", "admin", "api", "db-proxy"]) == [
        "db-proxy",
        "api",
        "admin",
        "web",
    ]
    assert config.dependency_order(["web", "db-proxy"]) == ["db-proxy", "web"]


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        (
            {"service_label": "service name"},
            "alerts.service_label: expected a Prometheus label name",
        ),
        (
            {"category_label": "1st"},
            "alerts.category_label: expected a Prometheus label name",
        ),
        (
            {"hmac_secret_env": "MY-SECRET"},
            "alerts.hmac_secret_env: expected an environment variable's name",
        ),
        (
            {"default_category": "outage"},
            "alerts.default_category: Input should be 'errors', 'performance'",
        ),
        ({"signature_tolerance": 0}, "alerts.signature_tolerance: must be longer than 0s"),
        ({"secret": "x"}, "alerts.secret: unknown key"),
    ],
)
def test_the_alerts_section_is_checked_key_by_key(
    tmp_path: Path, alerts: dict[str, object], expected: str
) -> None:
    problems = refusal(tmp_path, yaml.safe_dump({"project": "shop", "alerts": alerts})).problems

    assert problems[0].startswith(expected), problems


BAD_URL = "http://admin:s3cretPW@127.0.0.1:notaport/api"
_FLOW_STEP = {"name": "home", "method": "GET", "path": "/"}
_QUERIES = {"error_rate": {"unit": "fraction", "query": "vector(0)"}}


def _with_service(**section: Any) -> dict[str, Any]:
    service = {"tier": "critical", "driver": {"type": "fake"}, **section}
    return {"project": "shop", "services": {"api": service}}


URL_FIELDS: dict[str, dict[str, Any]] = {
    "flags.provider.url": {
        "project": "shop",
        "flags": {"provider": {"type": "unleash", "url": BAD_URL, "token": "t"}},
    },
    "services.api.probe.url": _with_service(probe={"url": BAD_URL}),
    "services.api.health[0].url": _with_service(health=[{"type": "http", "url": BAD_URL}]),
    "services.api.metrics.url": _with_service(
        metrics={"type": "prometheus", "url": BAD_URL, "queries": _QUERIES}
    ),
    "services.api.metrics.base_url": _with_service(
        metrics={"type": "flow", "base_url": BAD_URL, "steps": [_FLOW_STEP]}
    ),
    "services.api.driver.endpoint_url": _with_service(
        driver={
            "type": "ecs",
            "cluster": "c",
            "service": "s",
            "family": "f",
            "endpoint_url": BAD_URL,
        }
    ),
    "dns[0].provider.endpoint_url": {
        "project": "shop",
        "dns": [
            {
                "name": "api.example.com",
                "type": "A",
                "zone": "example.com",
                "provider": {"type": "route53", "hosted_zone_id": "Z1", "endpoint_url": BAD_URL},
            }
        ],
    },
    "status_page.url": {"project": "shop", "status_page": {"url": BAD_URL}},
    "notifications.url": {"project": "shop", "notifications": {"url": BAD_URL}},
}


@pytest.mark.parametrize(("key", "data"), URL_FIELDS.items(), ids=list(URL_FIELDS))
def test_a_url_no_request_can_go_to_is_refused_by_check_naming_its_key(
    tmp_path: Path, key: str, data: dict[str, Any]
) -> None:
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        check_config(path)

    error = raised.value
    assert error.exit_code is ExitCode.INVALID_CONFIG
    assert str(path) in str(error)
    assert any(
        problem.startswith(f"{key}: the port must be a number from 1 to 65535")
        for problem in error.problems
    ), error.problems
    assert "s3cretPW" not in str(error)


@pytest.mark.parametrize("file", ["../escaped-pins.json", "/etc/passwd", "deploy/../../x.json"])
def test_a_pin_file_outside_the_repository_is_refused(tmp_path: Path, file: str) -> None:
    error = refusal(tmp_path, f"project: shop\npins: {{repository: ./deploy, file: '{file}'}}\n")

    assert len(error.problems) == 1
    assert error.problems[0].startswith("pins.file: expected a path inside the repository")
    assert repr(file) in error.problems[0]


@pytest.mark.parametrize("url", ["", "mysql://root:dbpass123@127.0.0.1/x", "shop", "http://db/x"])
def test_a_database_url_that_is_not_postgresql_is_refused_without_its_password(
    tmp_path: Path, url: str
) -> None:
    error = refusal(tmp_path, f"project: shop\ndatabases:\n  main: {{url: '{url}'}}\n")

    assert len(error.problems) == 1
    assert error.problems[0].startswith(
        "databases.main.url: expected a PostgreSQL connection: postgresql://"
    ), error.problems
    assert "dbpass123" not in str(error)


@pytest.mark.parametrize(
    "url", ["postgresql://app@db/shop", "postgres://app@db/shop", "host=db dbname=shop user=app"]
)
def test_a_postgresql_url_or_key_value_string_is_taken(tmp_path: Path, url: str) -> None:
    path = tmp_path / "backout.yaml"
    path.write_text(f"project: shop\ndatabases:\n  main: {{url: '{url}'}}\n")

    assert load_config(path).database("main").url == url


@pytest.mark.parametrize(
    ("service", "key"),
    [
        ({"driver": {"type": "fake", "hold_until": "x", "hold_timeout": "0s"}}, "driver.hold_timeout"),
        ({"driver": {"type": "pm2", "start_timeout": 0}}, "driver.start_timeout"),
        ({"health": [{"type": "command", "command": "true", "timeout": "0s"}]}, "health[0].timeout"),
    ],
)  # fmt: skip
def test_a_plug_in_timeout_of_zero_is_refused_by_check(
    tmp_path: Path, service: dict[str, object], key: str
) -> None:
    path = tmp_path / "backout.yaml"
    data = {
        "project": "shop",
        "services": {"api": {"tier": "critical", "driver": {"type": "fake"}} | service},
    }
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        check_config(path)

    assert any(
        p.startswith(f"services.api.{key}: must be longer than 0s") for p in raised.value.problems
    ), raised.value.problems


def test_a_key_value_database_string_may_hold_a_url_in_a_value(tmp_path: Path) -> None:
    url = "host=db dbname=shop application_name=ci://deploy"
    path = tmp_path / "backout.yaml"
    path.write_text(f"project: shop\ndatabases:\n  main: {{url: '{url}'}}\n")

    assert load_config(path).database("main").url == url
