"""backout.yaml: defaults, durations, precedence, and errors that name the file and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from backout.categories import IncidentCategory
from backout.config import load_config
from backout.drivers import DRIVERS
from backout.durations import format_duration, parse_duration
from backout.errors import ConfigError, ExitCode, UnknownServiceError
from backout.runtime import Runtime, validate_plugins
from backout.starter import STARTER_CONFIG

MINIMAL = {
    "project": "badminton",
    "services": {"api": {"tier": "critical", "driver": {"type": "fake"}}},
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        validate_plugins(load_config(path))
    assert raised.value.exit_code is ExitCode.INVALID_CONFIG
    assert str(path) in str(raised.value)
    return raised.value.problems


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90),
        (1.5, 1.5),
        ("500ms", 0.5),
        ("30s", 30),
        ("15m", 900),
        ("1h30m", 5400),
        ("2d", 172800),
    ],
)
def test_durations_read_as_people_write_them(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["15 minutes", "m15", "1x", ""])
def test_a_malformed_duration_says_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration such as 500ms"):
        parse_duration(text)


def test_durations_print_back_in_the_same_words() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (900, 7200, 30, 0.25, 2.5)] == [
        "15m",
        "2h",
        "30s",
        "250ms",
        "2.5s",
    ]


def test_the_runbook_objectives_are_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    rto = config.objectives.rto
    assert (rto.critical, rto.core, rto.full_system, rto.database) == (
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=1),
    )
    assert config.objectives.rpo == {
        "user_data": timedelta(minutes=5),
        "transactional": timedelta(minutes=1),
        "configuration": timedelta(minutes=15),
    }
    assert config.rto_for("api") == timedelta(minutes=15)


def test_state_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKOUT_DATABASE_URL", raising=False)
    monkeypatch.chdir("/")
    config = load_config(write(tmp_path, MINIMAL))
    assert config.database_url() == f"sqlite:///{tmp_path}/.backout/state.db"
    assert config.state_dir == tmp_path / ".backout"


def test_the_environment_variable_overrides_the_state_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOUT_DATABASE_URL", "postgresql://backout@db.internal/backout")
    assert (
        load_config(write(tmp_path, MINIMAL)).database_url()
        == "postgresql://backout@db.internal/backout"
    )


def test_backout_config_names_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOUT_CONFIG", str(write(tmp_path, MINIMAL)))
    assert load_config().project == "badminton"


def test_the_starter_file_is_valid_as_written(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, STARTER_CONFIG))
    validate_plugins(config)
    assert config.services["backend"].triggers[0].above == 0.05


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as raised:
        load_config(tmp_path / "nope.yaml")
    assert "backout init" in str(raised.value)


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "project: x\nservices:\n  api: [unclosed\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems[0].startswith("line 4, column 1: not valid YAML")


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    data = {
        "project": "badminton",
        "servces": {},
        "services": {
            "api": {
                "tier": "urgent",
                "driver": {"type": "fake"},
                "triggers": [{"name": "errors", "metric": "error_rate", "for": "soon"}],
            }
        },
    }
    problems = problems_of(write(tmp_path, data))
    assert "servces: unknown key (misspelt, or not in this version of backout)" in problems
    assert any(
        p.startswith("services.api.tier: Input should be 'critical' or 'core'") for p in problems
    )
    assert any(p.startswith("services.api.triggers[0].for: expected a duration") for p in problems)


def test_a_trigger_needs_exactly_one_threshold(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["services"]["api"]["triggers"] = [{"name": "errors", "metric": "error_rate", "for": "1m"}]
    assert problems_of(write(tmp_path, data)) == [
        "services.api.triggers[0]: give exactly one of 'above' or 'above_baseline'"
    ]


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, {"services": {}})) == ["project: required key is missing"]


def test_traffic_restore_must_end_at_full_traffic(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["services"]["api"]["traffic_restore"] = [10, 50]
    assert problems_of(write(tmp_path, data)) == [
        "services.api: traffic_restore must rise and end at 100, e.g. [10, 50, 100]"
    ]


def test_an_unknown_plugin_type_lists_the_available_ones(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["services"]["api"]["driver"] = {"type": "kubernetes-ish"}
    with pytest.raises(ConfigError) as raised:
        validate_plugins(load_config(write(tmp_path, data)))
    # Every registered driver, in order (the list grows with each platform).
    available = ", ".join(DRIVERS.names())
    assert {"fake", "git-build", "process"} <= set(DRIVERS.names())
    assert raised.value.problems == [
        f"services.api.driver.type: unknown driver 'kubernetes-ish' (available: {available})"
    ]


def test_plugin_settings_errors_carry_the_same_key_paths(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["services"]["api"]["driver"] = {"type": "fake", "deploy_delay": "slowly"}
    data["services"]["api"]["health"] = [{"type": "http"}]
    problems = problems_of(write(tmp_path, data))
    assert any(
        p.startswith("services.api.driver.deploy_delay: expected a duration") for p in problems
    )
    assert "services.api.health[0].url: required key is missing" in problems


def test_an_unknown_service_lists_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(UnknownServiceError, match="unknown service 'web'") as raised:
        config.service("web")
    assert raised.value.exit_code is ExitCode.NOT_FOUND
    assert "services in the config: api" in str(raised.value)


def _with_api(tmp_path: Path, **api: object) -> Path:
    data = {"project": "p", "services": {"api": {"tier": "critical", "driver": {"type": "fake"}}}}
    data["services"]["api"].update(api)  # type: ignore[index]
    return write(tmp_path, data)


def test_a_probe_section_is_shorthand_for_a_probe_metric_source(tmp_path: Path) -> None:
    probe = {"url": "http://127.0.0.1:9/", "interval": "50ms", "window": "5s"}
    built = []
    for section in ({"probe": probe}, {"metrics": {"type": "probe", **probe}}):
        runtime = Runtime.open(_with_api(tmp_path, **section))
        try:
            source = runtime.metrics("api")
            assert source is not None
            built.append((type(source).__name__, source.sample_interval))
        finally:
            runtime.close()

    assert built == [("Probe", timedelta(milliseconds=50))] * 2


def test_a_service_may_read_several_sources_and_its_triggers_any_of_their_metrics(
    tmp_path: Path,
) -> None:
    queue = {"type": "fake", "provides": {"queue_depth": "count"}}
    rules = [
        {"name": "errors", "metric": "error_rate", "above": 0.05},
        {"name": "backlog", "metric": "queue_depth", "above": 100},
    ]
    path = _with_api(tmp_path, probe={"url": "http://x/"}, metrics=[queue], triggers=rules)
    validate_plugins(load_config(path))

    runtime = Runtime.open(path)
    try:
        source = runtime.metrics("api")
        assert source is not None
        assert {"error_rate", "queue_depth"} <= set(source.provides.names())
    finally:
        runtime.close()


def test_a_metric_two_sources_provide_is_refused(tmp_path: Path) -> None:
    path = _with_api(tmp_path, probe={"url": "http://x/"}, metrics=[{"type": "fake"}])

    assert problems_of(path) == [
        "services.api.metrics[0]: error_rate, latency_p50, latency_p95, latency_p99, "
        "request_rate provided by services.api.probe (probe) already; a metric name belongs to "
        "one source"
    ]


def test_a_trigger_counts_failures_or_holds_for_a_time_not_both(tmp_path: Path) -> None:
    rule = {"name": "e", "metric": "error_rate", "above": 0.05, "for": "10s", "failures": 3}

    assert problems_of(_with_api(tmp_path, probe={"url": "http://x/"}, triggers=[rule])) == [
        "services.api.triggers[0]: give 'for' (a time) or 'failures' (a count), not both"
    ]


def test_data_incidents_wait_for_a_person_unless_the_service_says_otherwise(
    tmp_path: Path,
) -> None:
    config = load_config(_with_api(tmp_path, policy="rollback", policies={"business": "notify"}))
    api = config.service("api")

    assert api.policy_for(IncidentCategory.ERRORS) == "rollback"
    assert api.policy_for(IncidentCategory.DATA) == "approve"
    assert api.policy_for(IncidentCategory.BUSINESS) == "notify"


def test_a_trigger_may_name_any_metric_its_source_provides(tmp_path: Path) -> None:
    rule = {"name": "backlog", "metric": "queue_depth", "above": 100}
    fake = {"type": "fake", "provides": {"queue_depth": "count"}}
    validate_plugins(load_config(_with_api(tmp_path, metrics=fake, triggers=[rule])))

    problems = problems_of(_with_api(tmp_path, probe={"url": "http://x/"}, triggers=[rule]))

    assert problems == [
        "services.api.triggers[0].metric: 'queue_depth' is not a metric of the probe source "
        "(it provides: error_rate, latency_p50, latency_p95, latency_p99, request_rate)"
    ]
