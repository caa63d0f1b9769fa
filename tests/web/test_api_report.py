"""The post-incident report over HTTP: any token reads it (Markdown or HTML), an operator
writes its sections, and an unknown incident is a 404."""

from __future__ import annotations

from test_status_page import open_an_incident
from web_support import Api, Tokens

from backout.runtime import Runtime


def test_a_viewer_reads_the_report_in_both_formats(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    incident_id = open_an_incident(runtime)

    markdown = api.get(f"/api/v1/incidents/{incident_id}/report", tokens.viewer)
    html = api.get(f"/api/v1/incidents/{incident_id}/report?format=html", tokens.viewer)

    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# Post-incident report: incident {incident_id}")
    assert html.headers["content-type"].startswith("text/html")
    assert '<h2 id="root-cause">Root cause</h2>' in html.text
    assert api.get(f"/api/v1/incidents/{incident_id}/report").status_code == 401


def test_an_operator_writes_the_sections_a_viewer_may_not(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    incident_id = open_an_incident(runtime)
    path = f"/api/v1/incidents/{incident_id}/report"
    body = {"root_cause": "a backfill without WHERE", "action_items": ["guard backfills"]}

    refused = api.request("PATCH", path, tokens.viewer, json=body)
    written = api.request("PATCH", path, tokens.operator, json=body)

    assert refused.status_code == 403
    assert written.status_code == 200, written.text
    assert written.json()["edited_by"] == "token:operator"
    assert written.json()["action_items"] == ["guard backfills"]
    assert "a backfill without WHERE" in api.get(path, tokens.viewer).text
    assert api.request("PATCH", path, tokens.operator, json={}).status_code == 422
    too_long = {"lessons": "x" * 20_001}
    assert api.request("PATCH", path, tokens.operator, json=too_long).status_code == 422


def test_the_report_of_an_unknown_incident_is_404(api: Api, tokens: Tokens) -> None:
    read = api.get("/api/v1/incidents/999/report", tokens.viewer)
    edit = api.request(
        "PATCH", "/api/v1/incidents/999/report", tokens.operator, json={"lessons": "x"}
    )

    assert (read.status_code, read.json()["error"]) == (404, "there is no incident 999")
    assert edit.status_code == 404
