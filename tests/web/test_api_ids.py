"""An id in a URL that the state store cannot hold is an unknown one: 404 with the usual JSON
error, never a 500 — on every route that takes a run or incident id."""

from __future__ import annotations

import pytest
from web_support import Api, Tokens

# Beyond PostgreSQL's integer; SQLite's (and bigint's) 64 bits; far beyond both; below both.
IDS = ["2147483648", "9223372036854775808", "99999999999999999999", "-9223372036854775809"]


@pytest.mark.parametrize("run_id", IDS)
def test_a_run_id_beyond_the_store_is_404_on_every_run_route(
    api: Api, tokens: Tokens, run_id: str
) -> None:
    answers = {
        "show": api.get(f"/api/v1/runs/{run_id}", tokens.viewer),
        "approve": api.post(f"/api/v1/runs/{run_id}/approve", tokens.approver),
        "abort": api.post(f"/api/v1/runs/{run_id}/abort", tokens.operator, json={"reason": "x"}),
    }

    for route, answer in answers.items():
        assert answer.status_code == 404, (route, answer.text)
        assert answer.json()["error"] == f"there is no run {run_id}", route
        assert answer.json()["exit_code"] == 4, route


@pytest.mark.parametrize("incident_id", IDS)
def test_an_incident_id_beyond_the_store_is_404(api: Api, tokens: Tokens, incident_id: str) -> None:
    answer = api.get(f"/api/v1/incidents/{incident_id}", tokens.viewer)

    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == f"there is no incident {incident_id}"
