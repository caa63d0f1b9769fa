"""What the API keeps of its reads is never older than the store: a change committed by another
connection (another process, the watch loop, a run) shows at the next request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_support import Api, Tokens

from backout.operations.deploy import record_release
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.store import Run, Store
from backout.store.changes import StoreChanges


@pytest.fixture
def elsewhere(runtime: Runtime) -> Iterator[Runtime]:
    """The same config and store, opened again: its own engine and connections, as another
    `backout` process would have."""
    other = Runtime.open(runtime.config.source)
    yield other
    other.close()


def test_a_run_added_and_changed_elsewhere_shows_at_the_next_request(
    api: Api, tokens: Tokens, elsewhere: Runtime
) -> None:
    assert api.get("/api/v1/runs", tokens.viewer).json() == []
    assert api.get("/api/v1/runs", tokens.viewer).json() == []  # served from what was read

    with elsewhere.store.session() as session:
        run = Run(environment=elsewhere.environment, kind="application", service="api",
                  reason="by hand", state="running", actor="alice")  # fmt: skip
        session.add(run)
    assert [r["state"] for r in api.get("/api/v1/runs", tokens.viewer).json()] == ["running"]

    with elsewhere.store.session() as session:
        session.get_one(Run, run.id).state = "succeeded"
    assert [r["state"] for r in api.get("/api/v1/runs", tokens.viewer).json()] == ["succeeded"]


def test_a_release_recorded_elsewhere_shows_in_services_at_the_next_request(
    api: Api, tokens: Tokens, elsewhere: Runtime
) -> None:
    def live_api() -> str:
        statuses = api.get("/api/v1/services", tokens.viewer).json()
        return next(s["live_version"] for s in statuses if s["service"] == "api")

    assert live_api() == "1.1.0"
    assert live_api() == "1.1.0"

    record_release(elsewhere, "api", "1.2.0", ref=None, actor="ci", status=ReleaseStatus.LIVE)

    assert live_api() == "1.2.0"


@pytest.mark.postgres
def test_on_postgresql_nothing_is_kept(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        changes = StoreChanges(store.engine)
        assert not changes.tells
        assert changes.version() is None
    finally:
        store.close()
