"""Who may call what: a bearer token per caller, a role per token, JSON errors when refused."""

from __future__ import annotations

from web_support import Api, Serve, Tokens

from backout.clock import ManualClock
from backout.operations.tokens import revoke_token
from backout.runtime import Runtime
from backout.web.token_cache import TOKEN_RECHECK_S

ROLLBACK = "/api/v1/services/api/rollback"


def test_healthz_answers_without_a_token(api: Api) -> None:
    answer = api.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_a_read_without_a_token_is_401_with_a_json_error(api: Api) -> None:
    answer = api.get("/api/v1/services")

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    body = answer.json()
    assert body["error"] == "this endpoint needs an API token"
    assert "Authorization: Bearer" in body["hint"]
    assert body["exit_code"] == 1


def test_an_unknown_token_is_401(api: Api) -> None:
    answer = api.get("/api/v1/services", "bk_not-a-token")

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid or revoked API token"


def test_a_revoked_token_is_401(api: Api, runtime: Runtime, tokens: Tokens) -> None:
    revoke_token(runtime, "viewer", actor="test")

    assert api.get("/api/v1/services", tokens.viewer).status_code == 401


def test_a_token_revoked_while_in_use_is_refused_within_the_recheck_time(
    serve: Serve, runtime: Runtime, tokens: Tokens
) -> None:
    clock = ManualClock()
    api = serve(Runtime(runtime.config, runtime.store, clock=clock))
    assert api.get("/api/v1/services", tokens.viewer).status_code == 200

    revoke_token(runtime, "viewer", actor="test")  # as `backout token revoke` does, elsewhere

    assert api.get("/api/v1/services", tokens.viewer).status_code == 200, "checked 0 s ago"
    clock.advance(TOKEN_RECHECK_S - 0.1)
    assert api.get("/api/v1/services", tokens.viewer).status_code == 200
    clock.advance(0.1)
    answer = api.get("/api/v1/services", tokens.viewer)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid or revoked API token"


def test_another_authorization_scheme_is_401(api: Api, tokens: Tokens) -> None:
    answer = api.client.get("/api/v1/services", headers={"Authorization": f"Basic {tokens.viewer}"})

    assert answer.status_code == 401


def test_a_viewer_cannot_roll_back_and_is_told_the_role_needed(api: Api, tokens: Tokens) -> None:
    answer = api.post(ROLLBACK, tokens.viewer, json={"reason": "bad release"})

    assert answer.status_code == 403
    assert answer.json()["error"] == (
        "starting a rollback needs role operator; this token has viewer"
    )
    assert api.get("/api/v1/runs", tokens.viewer).json() == []


def test_a_rollback_without_a_token_is_401_and_starts_nothing(api: Api, tokens: Tokens) -> None:
    assert api.post(ROLLBACK, json={"reason": "bad release"}).status_code == 401
    assert api.post(ROLLBACK, "bk_wrong", json={"reason": "bad release"}).status_code == 401

    assert api.get("/api/v1/runs", tokens.viewer).json() == []


def test_an_operator_cannot_approve(api: Api, tokens: Tokens) -> None:
    answer = api.post("/api/v1/runs/1/approve", tokens.operator)

    assert answer.status_code == 403
    assert answer.json()["error"] == "approving a run needs role approver; this token has operator"


def test_a_higher_role_may_do_what_a_lower_one_may(api: Api, tokens: Tokens) -> None:
    assert api.get("/api/v1/services", tokens.approver).status_code == 200
    answer = api.post(ROLLBACK, tokens.approver, json={"reason": "check", "dry_run": True})
    assert answer.status_code == 200
