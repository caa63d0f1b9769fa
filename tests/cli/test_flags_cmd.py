"""`backout flags`: the kill switch and rollouts, each change recorded with who, when and why,
and on the timeline of an open incident of a service the flag guards (builtin provider)."""

from __future__ import annotations

import pytest
import yaml

from backout.flags import Evaluator
from tests.cli.conftest import Backout, fake_service


@pytest.fixture
def flags(backout: Backout) -> Backout:
    data = yaml.safe_load(backout.config.read_text())
    data["services"]["api"] = {**fake_service(), "guarded_by": ["waitlist"]}
    data["flags"] = {
        "definitions": {
            "waitlist": {"description": "Show the waitlist", "rollout": 30},
            "dark-mode": {"enabled": False},
        }
    }
    backout.config.write_text(yaml.safe_dump(data))
    return backout


def served(flags: Backout) -> Evaluator:
    with flags.runtime() as runtime:
        return Evaluator.from_client_features(runtime.flags().client_features())


def test_the_defined_flags_are_listed_with_their_exposure(flags: Backout) -> None:
    listed = {f["key"]: f["exposure"] for f in flags("flags", "list", "--json").json()}
    assert listed == {"dark-mode": "off", "waitlist": "on (30 %)"}


def test_the_kill_switch_turns_the_flag_off_for_everyone_and_records_why(flags: Backout) -> None:
    done = flags("flags", "disable", "waitlist", "--reason", "sessions answer 500")

    assert done.code == 0, done
    assert "flag waitlist: on (30 %) → off" in done.stdout
    evaluator = served(flags)
    assert not any(evaluator.is_enabled("waitlist", {"userId": str(i)}) for i in range(200))
    [change] = flags("flags", "show", "waitlist", "--json").json()["changes"]
    assert change["reason"] == "sessions answer 500"
    assert change["actor"] == flags.env["BACKOUT_ACTOR"]
    assert (change["before"]["enabled"], change["after"]["enabled"]) == (True, False)


def test_pressing_the_kill_switch_twice_changes_nothing_the_second_time(flags: Backout) -> None:
    flags.ok("flags", "disable", "waitlist", "--reason", "first")
    again = flags("flags", "disable", "waitlist", "--reason", "second")

    assert again.code == 0, again
    assert "was already off: nothing changed" in again.stdout
    assert len(flags("flags", "show", "waitlist", "--json").json()["changes"]) == 1


def test_a_rollout_exposes_a_sticky_share_of_users(flags: Backout) -> None:
    flags.ok("flags", "rollout", "waitlist", "50")

    evaluator = served(flags)
    users = [str(i) for i in range(2000)]
    exposed = {u for u in users if evaluator.is_enabled("waitlist", {"userId": u})}
    assert 900 < len(exposed) < 1100
    flags.ok("flags", "rollout", "waitlist", "60")
    widened = served(flags)
    assert all(widened.is_enabled("waitlist", {"userId": u}) for u in exposed), "sticky"


def test_a_change_lands_on_the_open_incident_of_the_service_the_flag_guards(
    flags: Backout,
) -> None:
    flags.good_then_live()
    run_id = flags.rollback_waiting_for_approval()
    incident_id = flags.run_detail(run_id)["incident_id"]

    done = flags("flags", "disable", "waitlist", "--reason", "kill the waitlist")

    assert f"on the timeline of incident {incident_id}" in done.stdout
    timeline = flags("incident", "show", str(incident_id), "--json").json()["timeline"]
    [event] = [e for e in timeline if e["kind"] == "flag_changed"]
    assert event["message"] == "flag waitlist: on (30 %) → off: kill the waitlist"


def test_an_unknown_flag_is_refused_naming_the_known_ones(flags: Backout) -> None:
    flags("flags", "disable", "nope", "--reason", "x").refused(
        4, "unknown flag 'nope'", "dark-mode, waitlist"
    )


def test_a_rollout_outside_0_to_100_is_a_usage_error_and_changes_nothing(flags: Backout) -> None:
    flags("flags", "rollout", "waitlist", "120").refused(2, "less than or equal to 100")
    assert flags("flags", "show", "waitlist", "--json").json()["rollout"] == 30


def test_flag_first_without_a_guarded_flag_is_a_config_error(backout: Backout) -> None:
    data = yaml.safe_load(backout.config.read_text())
    data["services"]["api"] = {**fake_service(), "policy": "flag_first"}
    backout.config.write_text(yaml.safe_dump(data))

    backout("flags", "list").refused(3, "services.api.guarded_by names no flag")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://admin:s3cretPW@127.0.0.1:notaport/api", "the port must be a number"),
        ("http://admin:s3cret#PW@127.0.0.1:4242/api", "an '@' after the host"),
        ("http://[::1/api", "the '[' of an IPv6 host is not closed"),
    ],
)
def test_a_provider_url_no_request_can_go_to_is_refused_before_any_flag_command(
    backout: Backout, url: str, problem: str
) -> None:
    data = yaml.safe_load(backout.config.read_text())
    data["flags"] = {"provider": {"type": "unleash", "url": url, "token": "t"}}
    backout.config.write_text(yaml.safe_dump(data))

    for command in (
        ("check",),
        ("flags", "list"),
        ("flags", "disable", "waitlist", "--reason", "r"),
    ):
        backout(*command).refused(3, str(backout.config), f"flags.provider.url: {problem}")
    listed = backout("flags", "list", "--json")
    listed.refused(3, f"flags.provider.url: {problem}")
    assert "PW" not in listed.stdout + listed.stderr
