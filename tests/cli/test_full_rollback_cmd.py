"""`backout rollback --full`: the runbook's Full System Rollback — every service and DNS record
with something to roll back, in one run and one incident, services in their `depends_on`
order and DNS last. (The services use the fake driver and the record the fake DNS provider:
what is under test is the plan and its outcome; each real platform has its own suite.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from backout.dns import RecordSet, dns_provider_for

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NAME = "www.example.com"
REFUSED = 1


@pytest.fixture
def environment(backout: Backout) -> Backout:
    """`web` depends on `api`; both run a bad 1.1.0 over a good 1.0.0; www was moved to a bad
    target after a good one, each recorded."""
    config = yaml.safe_load(backout.config.read_text())
    config["services"]["web"]["depends_on"] = ["api"]
    config["dns"] = [{"name": NAME, "zone": "example.com", "provider": {"type": "fake"}}]
    backout.config.write_text(yaml.safe_dump(config))
    backout.good_then_live("api")
    backout.good_then_live("web")
    for target in ("192.0.2.10", "192.0.2.99"):
        point_www_at(backout, target)
        backout.ok("dns", "record")
    return backout


def point_www_at(backout: Backout, address: str) -> None:
    with backout.runtime() as runtime:
        provider = dns_provider_for(runtime.config, NAME)
        provider.apply(RecordSet.of(NAME, "A", [address], 300))


def www_answers(backout: Backout) -> tuple[str, ...]:
    with backout.runtime() as runtime:
        found = dns_provider_for(runtime.config, NAME).read(NAME, "A")
    assert found is not None
    return found.values


def test_the_whole_environment_goes_back_in_one_run(environment: Backout) -> None:
    result = environment("rollback", "--full", "--yes", "--json", "--reason", "bad release day")

    assert result.code == 0, result
    outcome = result.json()
    assert [(s["service"], s["state"]) for s in outcome["services"]] == [
        ("api", "rolled_back"),
        ("web", "rolled_back"),
        (f"dns_record:{NAME}", "rolled_back"),
    ]
    assert environment.status()["live_version"] == "1.0.0"
    assert www_answers(environment) == ("192.0.2.10",)
    incidents = environment("incidents", "--json").json()
    assert len(incidents) == 1  # one incident for the whole environment


def test_the_plan_brings_dependencies_back_first_and_dns_last(environment: Backout) -> None:
    result = environment("rollback", "--full", "--dry-run", "--json")

    assert result.code == 0, result
    steps = [(s["subject"], s["kind"]) for s in result.json()["steps"]]
    deploys = [subject for subject, kind in steps if kind == "deploy"]
    assert deploys == ["service:api", "service:web"]
    assert steps[-2:] == [(f"dns_record:{NAME}", "dns_set"), (f"dns_record:{NAME}", "dns_verify")]
    assert www_answers(environment) == ("192.0.2.99",)  # a dry run changes nothing


def test_what_has_nothing_to_roll_back_is_left_and_said(environment: Backout) -> None:
    environment.ok("rollback", "web", "--yes")  # web is back on its last known good already

    result = environment("rollback", "--full", "--yes")

    assert result.code == 0, result
    said = result.stdout.splitlines()
    assert "  web: untouched (1.0.0 is live and good: nothing to roll back)" in said
    assert "  api: rolled back to 1.0.0" in said


def test_with_nothing_to_roll_back_it_says_so(backout: Backout) -> None:
    backout("rollback", "--full", "--yes").refused(REFUSED, "nothing in the environment")


def test_full_takes_no_names(backout: Backout) -> None:
    result = backout("rollback", "api", "--full")

    assert result.code == 2, result
    assert "--full rolls back everything" in result.stderr
