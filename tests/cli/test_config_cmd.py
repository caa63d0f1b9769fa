"""`backout init` writes a starter file that `backout check` accepts; `check` names every
problem of a config with its file and key path, exits 3, and never shows a traceback."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import TYPE_CHECKING

from backout.starter import STARTER_CONFIG
from tests.cli.conftest import config_text, fake_service

if TYPE_CHECKING:
    from tests.cli.conftest import Backout, Result

INVALID_CONFIG = 3


def check_text(backout: Backout, text: str) -> Result:
    """`backout check` of a config file holding `text`."""
    path = backout.config.with_name("candidate.yaml")
    path.write_text(dedent(text), encoding="utf-8")
    return backout.at(path)("check")


def test_init_writes_a_starter_config_that_check_accepts(backout: Backout, tmp_path: Path) -> None:
    written = backout.bare("init", "starter.yaml", cwd=tmp_path)

    assert written.code == 0, written
    assert "wrote starter.yaml" in written.stdout
    assert (tmp_path / "starter.yaml").read_text(encoding="utf-8") == STARTER_CONFIG
    checked = backout.at(tmp_path / "starter.yaml")("check")
    assert checked.code == 0, checked
    assert "ok — project 'badminton-group', services: backend (critical, git-build)" in (
        checked.stdout
    )


def test_init_then_check_use_backout_yaml_in_the_current_folder(
    backout: Backout, tmp_path: Path
) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()

    assert backout.bare("init", cwd=folder).code == 0
    checked = backout.bare("check", cwd=folder)

    assert checked.code == 0, checked
    assert checked.stdout.startswith("backout.yaml: ok")


def test_init_into_a_folder_names_the_file_to_write_and_leaves_nothing(
    backout: Backout, tmp_path: Path
) -> None:
    (tmp_path / "deploy").mkdir()
    before = sorted(tmp_path.iterdir())

    for force in ([], ["--force"]):
        backout.bare("init", "deploy", *force, cwd=tmp_path).refused(
            1, "deploy is a folder", "deploy/backout.yaml"
        )
    assert sorted(tmp_path.iterdir()) == before, "no temporary file left"
    assert list((tmp_path / "deploy").iterdir()) == []


def test_init_refuses_to_overwrite_a_file_without_force(backout: Backout, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("project: mine\n", encoding="utf-8")

    backout.bare("init", "mine.yaml", cwd=tmp_path).refused(
        1, "mine.yaml already exists", "use --force to overwrite it"
    )
    assert mine.read_text(encoding="utf-8") == "project: mine\n"

    forced = backout.bare("init", "mine.yaml", "--force", cwd=tmp_path)
    assert forced.code == 0, forced
    assert mine.read_text(encoding="utf-8") == STARTER_CONFIG


def test_check_accepts_a_valid_config_and_names_its_services(backout: Backout) -> None:
    checked = backout("check")

    assert checked.code == 0, checked
    assert checked.stdout.strip() == (
        f"{backout.config}: ok — project 'cli-test', services: api (critical, fake), web (core, fake)"
    )
    assert checked.stderr == ""


def test_check_reports_invalid_yaml_with_its_line_number(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api: {tier: critical
          web: 1
        """,
    )

    result.refused(INVALID_CONFIG, "candidate.yaml: 1 problem(s)", "line 4", "not valid YAML")


def test_check_reports_an_unknown_key_with_its_key_path(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake}
            colour: red
        """,
    )

    result.refused(INVALID_CONFIG, "services.api.colour: unknown key")


def test_check_reports_a_value_of_the_wrong_type_with_its_key_path(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake}
            steps: {retries: lots}
        """,
    )

    result.refused(INVALID_CONFIG, "services.api.steps.retries: Input should be a valid integer")


def test_check_reports_every_missing_required_key(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        services:
          api:
            driver: {type: fake}
        """,
    )

    result.refused(
        INVALID_CONFIG,
        "2 problem(s)",
        "project: required key is missing",
        "services.api.tier: required key is missing",
    )


def test_check_reports_an_unknown_driver_and_lists_the_available_ones(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: nomad}
        """,
    )

    result.refused(
        INVALID_CONFIG, "services.api.driver.type: unknown driver 'nomad'", "fake", "git-build"
    )
    assert "process" in result.stderr


def test_check_reports_a_plugin_setting_error_with_its_key_path(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake, deploy_delay: slow}
          web:
            tier: core
            driver: {type: fake}
            router: {type: fake, weight: 3}
        """,
    )

    result.refused(
        INVALID_CONFIG,
        "2 problem(s)",
        "services.api.driver.deploy_delay: expected a duration",
        "services.web.router.weight: unknown key",
    )


def test_check_lists_the_file_s_problems_and_its_plug_ins_problems_in_one_refusal(
    backout: Backout,
) -> None:
    result = check_text(
        backout,
        """\
        project: t
        watch: {interval: 0s}
        services:
          api:
            tier: critical
            driver: {type: fake, deploy_delay: slow}
          web:
            tier: core
            bake_time: soon
            driver: {type: fake}
            router: {type: fake, weight: 3}
        """,
    )

    result.refused(
        INVALID_CONFIG,
        "4 problem(s)",
        "watch.interval: must be at least",
        "services.web.bake_time: expected a duration",
        "services.api.driver.deploy_delay: expected a duration",
        "services.web.router.weight: unknown key",
    )
    assert "checked once these are fixed" not in result.stderr


def test_other_commands_stop_at_the_file_s_own_problems_and_say_more_may_follow(
    backout: Backout,
) -> None:
    path = backout.config.with_name("candidate.yaml")
    path.write_text(
        "project: t\nwatch: {interval: 0s}\nservices:\n  api:\n    tier: critical\n"
        "    driver: {type: fake, deploy_delay: slow}\n",
        encoding="utf-8",
    )

    listed = backout.at(path)("status")

    listed.refused(INVALID_CONFIG, "1 problem(s)", "watch.interval", "checked once these are fixed")


def test_check_of_a_missing_file_says_to_run_init(backout: Backout, tmp_path: Path) -> None:
    result = backout.at(tmp_path / "nowhere.yaml")("check")

    result.refused(INVALID_CONFIG, "nowhere.yaml", "file not found", "backout init")


def test_a_value_that_looks_like_markup_is_printed_as_written(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake}
            bake_time: "[/soon]"
            monitor: "[bold]"
        """,
    )

    result.refused(INVALID_CONFIG, "got '[/soon]'", "got '[bold]'")


def test_check_refuses_a_trigger_metric_its_source_does_not_provide(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake}
            probe: {url: "http://127.0.0.1:9/"}
            triggers:
              - {name: slow, metric: latency_p95, above: 0.5}
              - {name: queue, metric: queue_depth, above: 100}
          worker:
            tier: core
            driver: {type: fake}
            metrics: {type: fake, provides: {queue_depth: count}}
            triggers:
              - {name: queue, metric: queue_depth, above: 100}
              - {name: errors, metric: error_rate, above: 0.05}
        """,
    )

    result.refused(
        INVALID_CONFIG,
        "candidate.yaml",
        "2 problem(s)",
        "services.api.triggers[1].metric: 'queue_depth' is not a metric of the probe source "
        "(it provides: error_rate, latency_p50, latency_p95, latency_p99, request_rate)",
        "services.worker.triggers[1].metric: 'error_rate' is not a metric of the fake source "
        "(it provides: queue_depth)",
    )


def test_check_refuses_an_unknown_metric_source_and_lists_the_available_ones(
    backout: Backout,
) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake}
            metrics: {type: datadog, query: up}
        """,
    )

    result.refused(
        INVALID_CONFIG,
        "services.api.metrics.type: unknown metric source 'datadog' "
        "(available: fake, flow, probe, prometheus, sql)",
    )


def test_check_refuses_two_sources_of_one_metric_for_one_service(backout: Backout) -> None:
    result = check_text(
        backout,
        """\
        project: t
        services:
          api:
            tier: critical
            driver: {type: fake}
            probe: {url: "http://127.0.0.1:9/"}
            metrics: {type: fake}
        """,
    )

    result.refused(
        INVALID_CONFIG,
        "services.api.metrics: error_rate, latency_p50, latency_p95, latency_p99, request_rate "
        "provided by services.api.probe (probe) already",
    )


def test_check_says_what_an_haproxy_router_finds_missing(backout: Backout, tmp_path: Path) -> None:
    service = fake_service()
    service["router"] = {"type": "haproxy", "socket": str(tmp_path / "gone.sock"), "backend": "api"}
    path = backout.config.with_name("haproxy.yaml")
    path.write_text(config_text(api=service), encoding="utf-8")

    checked = backout.at(path)("check")

    assert checked.code == 0, checked  # the load balancer may run on another machine
    assert (
        f"router: services.api.router: no HAProxy admin socket at {tmp_path / 'gone.sock'} "
        "(HAProxy's global section needs: stats socket <path> mode 600 level admin)"
    ) in checked.stdout


def test_check_notes_triggers_that_no_metric_source_can_fire(backout: Backout) -> None:
    checked = check_text(
        backout,
        """\
        project: shop
        services:
          api:
            tier: critical
            driver: {type: fake}
            triggers: [{name: errors, metric: error_rate, above: 0.05}]
        """,
    )

    assert checked.code == 0, checked
    assert (
        "note: services.api.triggers: api has no metric source" in checked.stdout + checked.stderr
    )
    assert "unarmed and will not fire" in checked.stdout + checked.stderr
