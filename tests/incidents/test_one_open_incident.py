"""A subject has one open incident at a time, by a unique index: a second detector joins the open
one, on SQLite as on PostgreSQL, and an upgrade settles the duplicates an older store holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backout.incidents import IncidentStatus, open_incident, resolve
from backout.store import Incident, Store, tables
from backout.store.engine import alembic_config

DETECTED = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def detect(store: Store, title: str, service: str = "api") -> int:
    with store.session() as session:
        incident = open_incident(
            session,
            environment="production",
            service=service,
            title=title,
            trigger="error_rate",
            release_id=None,
            rto_s=300.0,
            detected_at=DETECTED,
            impact_started_at=None,
            actor="watch",
        )
        return incident.id


def test_a_second_detection_joins_the_open_incident_of_its_subject(store: Store) -> None:
    first = detect(store, "api 1.1.0: error rate 12% > 5%")

    second = detect(store, "api 1.1.0: p95 900ms > 500ms")

    assert second == first
    with store.session() as session:
        incident = session.get(Incident, first)
        assert incident is not None
        assert [(e.kind, e.message) for e in incident.events] == [
            ("detected", "api 1.1.0: error rate 12% > 5%"),
            (
                "detected",
                f"api 1.1.0: p95 900ms > 500ms (incident {first} was open already: joined it)",
            ),
        ]
    assert detect(store, "web down", service="web") != first, "another subject, its own"


def test_once_resolved_a_subject_opens_a_new_incident(store: Store) -> None:
    first = detect(store, "api 1.1.0: error rate 12% > 5%")
    with store.session() as session:
        incident = session.get(Incident, first)
        assert incident is not None
        resolve(session, incident, "rolled back", actor="watch")

    assert detect(store, "api 1.2.0: error rate 30% > 5%") != first


def test_the_store_itself_refuses_a_second_open_incident_of_a_subject(store: Store) -> None:
    detect(store, "api 1.1.0: error rate 12% > 5%")

    def insert_behind_the_codes_back() -> None:
        with store.session() as session:
            session.add(
                Incident(
                    environment="production",
                    service="api",
                    title="a second one",
                    severity="critical",
                    status=IncidentStatus.MONITORING,
                    rto_s=300.0,
                    detected_at=DETECTED,
                )
            )

    with pytest.raises(IntegrityError):
        insert_behind_the_codes_back()


def test_an_upgrade_keeps_the_newest_open_incident_of_a_subject_and_resolves_the_others(
    store_url: str,
) -> None:
    old = Store.open(store_url, migrate=False)
    command.upgrade(alembic_config(old.engine), "0005")
    with old.engine.begin() as connection:  # the columns of 0005, not of today's ORM class
        for title in ("first", "second", "third"):
            connection.execute(
                tables.incidents.insert().values(
                    environment="production",
                    service="api",
                    title=title,
                    severity="critical",
                    status=IncidentStatus.INVESTIGATING,
                    rto_s=300.0,
                    detected_at=DETECTED,
                )
            )

    old.migrate()

    with old.session() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert [(i.title, i.status) for i in incidents] == [
            ("first", "resolved"),
            ("second", "resolved"),
            ("third", "investigating"),
        ]
        assert incidents[0].resolved_at is not None
        assert incidents[0].events[0].message == (
            f"resolved on upgrade: incident {incidents[2].id} of the same subject is open, and "
            "a subject has one open incident at a time"
        )
    old.close()
