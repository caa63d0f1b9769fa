"""POST /api/v1/services/{service}/security: the security trigger over the API (operator)."""

from __future__ import annotations

from web_support import Api, Tokens

from backout.runtime import Runtime
from backout.store import Release

PATH = "/api/v1/services/api/security"


def advisories_of(runtime: Runtime, version: str) -> list[str]:
    with runtime.store.session() as session:
        release = session.query(Release).filter_by(service="api", version=version).one()
        return list(release.advisories or [])


def test_the_live_release_affected_is_rolled_back_in_the_server(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    answer = api.post(PATH, tokens.operator, json={"advisory": "CVE-2026-1234"})

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["action"], body["exit_code"], body["error"]) == ("rolling_back", 0, None)
    run = api.wait_for_run(body["run_id"], tokens.viewer)
    assert (run["state"], run["to_version"], run["actor"]) == (
        "succeeded",
        "1.0.0",
        "token:operator",
    )
    assert advisories_of(runtime, "1.1.0") == ["CVE-2026-1234"]


def test_no_release_free_of_the_advisory_is_answered_with_why_and_the_incident(
    api: Api, tokens: Tokens
) -> None:
    body = {"advisory": "CVE-2026-1234", "affected": ["1.0.0", "1.1.0"]}

    answer = api.post(PATH, tokens.operator, json=body)

    assert answer.status_code == 202, answer.text
    out = answer.json()
    assert (out["action"], out["exit_code"], out["run_id"]) == ("no_rollback", 1, None)
    assert out["incident_id"] == 1
    assert "free of security advisories" in out["error"]


def test_a_viewer_may_not_and_bad_input_is_refused(api: Api, tokens: Tokens) -> None:
    assert api.post(PATH, tokens.viewer, json={"advisory": "CVE-1"}).status_code == 403
    assert api.post(PATH, tokens.operator, json={"advisory": "CVE 1"}).status_code == 422
    unknown = api.post(PATH, tokens.operator, json={"advisory": "CVE-1", "affected": ["9.9"]})
    assert unknown.status_code == 404
    missing = api.post("/api/v1/services/nope/security", tokens.operator, json={"advisory": "X"})
    assert missing.status_code == 404
