"""`backout trigger SERVICE --security ID`: the advisory is recorded on the affected releases,
a security incident opens, and the rollback goes to the newest good release no advisory
affects; a live release not affected is only recorded; no safe release is said plainly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from backout.releases import ReleaseStatus
from backout.store import Incident, Release

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NOT_FOUND = 4
REFUSED = 1
AWAITING_APPROVAL = 6
NOT_CONFIRMED = 9


def advisories(backout: Backout) -> dict[str, list[str]]:
    with backout.runtime() as runtime, runtime.store.session() as session:
        rows = session.scalars(select(Release).where(Release.service == "api"))
        return {r.version: list(r.advisories or []) for r in rows}


def policy(backout: Backout, name: str) -> None:
    backout.write(api={**backout.service(), "policy": name}, web=backout.service("core"))


def three_releases(backout: Backout) -> None:
    """Policy rollback; 1.0.0 and 1.1.0 good, 1.2.0 live."""
    policy(backout, "rollback")
    backout.record("api", "1.0.0", ReleaseStatus.GOOD)
    backout.record("api", "1.1.0", ReleaseStatus.GOOD)
    backout.record("api", "1.2.0", ReleaseStatus.LIVE)


def test_an_advisory_on_the_live_and_the_last_good_release_rolls_back_past_both(
    backout: Backout,
) -> None:
    three_releases(backout)

    result = backout(
        "trigger", "api", "--security", "CVE-2026-1234", "--affected", "1.1.0,1.2.0", "--yes"
    )

    assert result.code == 0, result
    assert result.stdout.splitlines()[0] == (
        "api 1.2.0: affected by CVE-2026-1234: rolling back (run 1, incident 1)"
    )
    assert backout.run_detail(1)["to_version"] == "1.0.0"
    assert advisories(backout) == {
        "1.0.0": [],
        "1.1.0": ["CVE-2026-1234"],
        "1.2.0": ["CVE-2026-1234"],
    }
    with backout.runtime() as runtime, runtime.store.session() as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert (incident.category, incident.trigger) == ("security", "security:CVE-2026-1234")
    assert backout.status()["last_known_good"] == "1.0.0"


def test_the_live_release_by_default_and_json_output(backout: Backout) -> None:
    policy(backout, "rollback")
    backout.good_then_live()

    result = backout("trigger", "api", "--security", "GHSA-abcd-efgh-ijkl", "--yes", "--json")

    assert result.code == 0, result
    out = result.json()
    assert (out["action"], out["state"], out["run_id"], out["incident_id"]) == (
        "rolling_back",
        "succeeded",
        1,
        1,
    )
    assert advisories(backout)["1.1.0"] == ["GHSA-abcd-efgh-ijkl"]


def test_a_live_release_not_affected_is_recorded_and_not_rolled_back(backout: Backout) -> None:
    three_releases(backout)

    result = backout("trigger", "api", "--security", "CVE-2026-9", "--affected", "1.0.0")

    assert result.code == 0, result
    assert result.stdout.strip() == (
        "api 1.2.0 is not affected by CVE-2026-9: recorded on 1.0.0; nothing rolled back"
    )
    assert advisories(backout)["1.0.0"] == ["CVE-2026-9"]
    assert backout.status()["open_incidents"] == []
    assert backout.status()["last_known_good"] == "1.1.0"
    named = backout("rollback", "api", "--to", "1.0.0", "--yes")
    named.refused(1, "api 1.0.0 is affected by CVE-2026-9; not rolling back to it", "--force")


def test_no_good_release_free_of_the_advisory_opens_the_incident_and_says_so(
    backout: Backout,
) -> None:
    policy(backout, "rollback")
    backout.good_then_live()

    result = backout(
        "trigger", "api", "--security", "CVE-2026-7", "--affected", "1.0.0,1.1.0", "--yes"
    )

    assert result.code == REFUSED, result
    assert "incident 1 opened, but no rollback: no release of api is marked good and free" in (
        result.stdout
    )
    assert "deploy a fixed release" in result.stdout
    assert backout.status()["open_incidents"] == [1]
    as_json = backout("trigger", "api", "--security", "CVE-2026-7", "--yes", "--json")
    assert as_json.code == REFUSED, as_json
    assert as_json.json()["error"]["kind"] == "NoUnaffectedReleaseError"


def test_a_rollback_needs_yes_when_no_one_is_at_a_terminal(backout: Backout) -> None:
    backout.good_then_live()

    result = backout("trigger", "api", "--security", "CVE-2026-1234")

    result.refused(NOT_CONFIRMED, "apply the security policy (approve)?", "--yes")
    assert advisories(backout)["1.1.0"] == []


def test_an_unknown_version_or_a_bad_id_changes_nothing(backout: Backout) -> None:
    backout.good_then_live()

    unknown = backout("trigger", "api", "--security", "CVE-1", "--affected", "1.1.0,9.9.9", "--yes")
    bad_id = backout("trigger", "api", "--security", "CVE 1; drop", "--yes")

    unknown.refused(NOT_FOUND, "no recorded release '9.9.9'", "known versions: 1.1.0, 1.0.0")
    bad_id.refused(1, "not an advisory id")
    assert advisories(backout) == {"1.0.0": [], "1.1.0": []}


def test_policy_approve_leaves_the_rollback_at_its_gate(backout: Backout) -> None:
    backout.good_then_live()  # the services' default policy: approve

    result = backout("trigger", "api", "--security", "CVE-2026-1234", "--yes")

    assert result.code == AWAITING_APPROVAL, result
    assert "rolling back after approval (run 1, incident 1)" in result.stdout
    assert backout.run_detail(1)["state"] == "awaiting_approval"


def test_policy_notify_records_and_opens_the_incident_only(backout: Backout) -> None:
    policy(backout, "notify")
    backout.good_then_live()

    result = backout("trigger", "api", "--security", "CVE-2026-1234")  # nothing to confirm

    assert result.code == 0, result
    assert result.stdout.strip() == (
        "api 1.1.0: affected by CVE-2026-1234: incident 1 opened; policy is notify, not "
        "rolling back"
    )
    assert backout.history()[0]["status"] == "bad"
