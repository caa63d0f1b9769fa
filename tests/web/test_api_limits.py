"""What the API accepts is bounded: bodies (413), reasons and versions (422), pages of lists
(`limit`, `before`, a `Link` to the next page) — and what is refused leaves nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from web_support import Api, Tokens

from backout.limits import (
    MAX_CLIENT_APPS,
    MAX_PAGE_SIZE,
    MAX_REASON_CHARS,
    MAX_REGISTRATION_TEXT_CHARS,
    MAX_REQUEST_BODY_BYTES,
    MAX_VERSION_CHARS,
)
from backout.runtime import Runtime
from backout.store import Incident, Run, utcnow
from backout.web.routes_unleash import ClientRegistry

POSTS = [
    ("/api/v1/services/api/rollback", "operator"),
    ("/api/v1/runs/1/abort", "operator"),
    ("/api/v1/runs/1/approve", "approver"),
    ("/api/v1/flags/checkout/disable", "operator"),
    ("/api/client/register", "viewer"),
    ("/api/client/metrics", "viewer"),
]


def rows(runtime: Runtime, model: type[Run] | type[Incident]) -> int:
    with runtime.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def oversized_body() -> dict[str, Any]:
    return {"reason": "x" * MAX_REQUEST_BODY_BYTES}


@pytest.mark.parametrize(("path", "role"), POSTS)
def test_a_body_over_64_kib_is_413_and_changes_nothing(
    api: Api, runtime: Runtime, tokens: Tokens, path: str, role: str
) -> None:
    answer = api.post(path, getattr(tokens, role), json=oversized_body())

    assert answer.status_code == 413, answer.text
    assert answer.json() == {
        "error": "the request body is too large: at most 65536 bytes (64 KiB)",
        "hint": None,
        "exit_code": 2,
    }
    assert rows(runtime, Run) == 0


def test_a_chunked_body_without_a_length_is_cut_off_at_64_kib(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"reason": "'
        for _ in range(MAX_REQUEST_BODY_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    answer = api.client.post(
        "/api/v1/services/api/rollback",
        content=chunks(),
        headers={"Authorization": f"Bearer {tokens.operator}", "Content-Type": "application/json"},
    )

    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"].startswith("the request body is too large")
    assert rows(runtime, Run) == 0


def test_a_body_just_under_the_limit_is_read(api: Api, tokens: Tokens) -> None:
    padding = "x" * (MAX_REQUEST_BODY_BYTES - 100)
    answer = api.post(
        "/api/v1/services/api/rollback",
        tokens.operator,
        json={"dry_run": True, "comment": padding},
    )

    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/services/api/rollback", {"reason": "r" * (MAX_REASON_CHARS + 1)}, "reason"),
        ("/api/v1/services/api/rollback", {"reason": ""}, "reason"),
        (
            "/api/v1/services/api/rollback",
            {"to_version": "v" * (MAX_VERSION_CHARS + 1)},
            "to_version",
        ),
        ("/api/v1/runs/1/abort", {"reason": "r" * (MAX_REASON_CHARS + 1)}, "reason"),
        ("/api/v1/flags/checkout/disable", {"reason": "r" * (MAX_REASON_CHARS + 1)}, "reason"),
        ("/api/v1/flags/checkout/rollout", {"percent": 5, "reason": ""}, "reason"),
    ],
)
def test_a_text_field_beyond_its_size_is_422_naming_it(
    api: Api, runtime: Runtime, tokens: Tokens, path: str, body: dict[str, Any], field: str
) -> None:
    answer = api.post(path, tokens.operator, json=body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith(f"invalid request: body.{field}:")
    assert rows(runtime, Run) == 0


def test_a_reason_of_the_largest_size_is_stored_whole(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    reason = "r" * MAX_REASON_CHARS
    answer = api.post("/api/v1/services/api/rollback", tokens.operator, json={"reason": reason})

    assert answer.status_code == 202, answer.text
    run = api.wait_for_run(answer.json()["run_id"], tokens.viewer)
    assert run["reason"] == reason


def add_runs_and_incidents(runtime: Runtime, count: int) -> None:
    with runtime.store.session() as session:
        for n in range(count):
            session.add(
                Incident(
                    environment=runtime.environment,
                    service="api",
                    title=f"incident {n + 1}",
                    severity="critical",
                    status="resolved",
                    rto_s=900.0,
                    detected_at=utcnow(),
                )
            )
            session.add(
                Run(
                    environment=runtime.environment,
                    kind="application",
                    service="api",
                    reason=f"run {n + 1}",
                    state="succeeded",
                    actor="test",
                )
            )


def walk(api: Api, token: str, first: str) -> list[list[int]]:
    """Follow the `Link: rel="next"` headers from `first` to the last page: each page's ids."""
    pages: list[list[int]] = []
    path: str | None = first
    while path is not None:
        answer = api.get(path, token)
        assert answer.status_code == 200, answer.text
        pages.append([item["id"] for item in answer.json()])
        following = answer.links.get("next")
        path = following["url"] if following else None
    return pages


@pytest.mark.parametrize("listing", ["/api/v1/runs", "/api/v1/incidents"])
def test_lists_come_in_pages_linked_newest_first(
    api: Api, runtime: Runtime, tokens: Tokens, listing: str
) -> None:
    add_runs_and_incidents(runtime, 5)

    pages = walk(api, tokens.viewer, f"{listing}?limit=2")

    assert pages == [[5, 4], [3, 2], [1]]
    assert [i["id"] for i in api.get(f"{listing}?before=3", tokens.viewer).json()] == [2, 1]


def test_the_releases_of_a_service_come_in_pages(api: Api, tokens: Tokens) -> None:
    every = api.get("/api/v1/services/api/releases", tokens.viewer).json()

    pages = walk(api, tokens.viewer, "/api/v1/services/api/releases?limit=1")

    # A full page links to the next, which may be empty: the last page is the one not full.
    assert pages == [[r["id"]] for r in every] + [[]]
    assert [r["version"] for r in every] == ["1.1.0", "1.0.0"]


@pytest.mark.parametrize("listing", ["/api/v1/runs", "/api/v1/incidents"])
def test_a_page_holds_50_unless_asked_and_a_cursor_beyond_any_id_starts_at_the_newest(
    api: Api, runtime: Runtime, tokens: Tokens, listing: str
) -> None:
    add_runs_and_incidents(runtime, 51)

    default = api.get(listing, tokens.viewer)
    beyond = api.get(f"{listing}?before=99999999999999999999", tokens.viewer)

    assert [i["id"] for i in default.json()] == list(range(51, 1, -1))
    assert default.links["next"]["url"].endswith("before=2&limit=50")
    assert [i["id"] for i in beyond.json()] == list(range(51, 1, -1))


@pytest.mark.parametrize(
    "query", [f"limit={MAX_PAGE_SIZE + 1}", "limit=0", "limit=-1", "before=0", "before=x"]
)
@pytest.mark.parametrize(
    "listing", ["/api/v1/runs", "/api/v1/incidents", "/api/v1/services/api/releases"]
)
def test_a_page_out_of_bounds_is_422(api: Api, tokens: Tokens, listing: str, query: str) -> None:
    answer = api.get(f"{listing}?{query}", tokens.viewer)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith("invalid request: query.")


def test_what_is_kept_of_sdk_registrations_is_bounded() -> None:
    registry = ClientRegistry()
    huge = "y" * 60_000

    for n in range(MAX_CLIENT_APPS + 5):
        registry.registered(
            {"appName": "shop", "instanceId": f"pod-{n}", "sdkVersion": huge, "extra": huge},
            "client",
        )

    assert len(registry.instances) == MAX_CLIENT_APPS
    assert ("shop", "pod-0") not in registry.instances, "the oldest go first"
    kept = registry.instances["shop", f"pod-{MAX_CLIENT_APPS + 4}"].registration
    assert kept == {
        "appName": "shop",
        "instanceId": f"pod-{MAX_CLIENT_APPS + 4}",
        "sdkVersion": "y" * MAX_REGISTRATION_TEXT_CHARS,
    }


def test_the_limits_are_documented_with_their_numbers() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for number in (
        "64 KiB",
        f"{MAX_REASON_CHARS:,}",
        f"{MAX_VERSION_CHARS}",
        f"{MAX_PAGE_SIZE:,}",
        f"{MAX_CLIENT_APPS:,}",
    ):
        assert number in docs, number


def test_a_body_that_is_not_utf8_json_is_422(api: Api, runtime: Runtime, tokens: Tokens) -> None:
    answer = api.client.post(
        "/api/v1/services/api/rollback",
        content=b"\xff\x01\xfe[o",
        headers={"Authorization": f"Bearer {tokens.operator}", "Content-Type": "application/json"},
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith("invalid request: body:")
    assert rows(runtime, Run) == 0
