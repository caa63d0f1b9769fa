"""An incident's status moves investigating → identified → monitoring → resolved: backout only
forward, a trigger back to investigating, people anywhere open — never out of resolved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backout.errors import RefusedError
from backout.incidents import IncidentStatus, Mover, move_incident, open_incident
from backout.incidents.lifecycle import MOVE, STAY, decide_move
from backout.store import Incident, Store

INV, IDE, MON, RES = list(IncidentStatus)
DETECTED = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "to", "by", "decision"),
    [
        (INV, IDE, Mover.BACKOUT, MOVE),
        (IDE, MON, Mover.BACKOUT, MOVE),
        (INV, MON, Mover.BACKOUT, MOVE),  # recovered before anyone said identified
        (MON, RES, Mover.BACKOUT, MOVE),
        (MON, IDE, Mover.BACKOUT, STAY),  # backout never goes back on its own
        (RES, IDE, Mover.BACKOUT, STAY),
        (IDE, IDE, Mover.BACKOUT, STAY),
        (MON, INV, Mover.REOPEN, MOVE),
        (RES, INV, Mover.REOPEN, MOVE),  # a trigger reopens a resolved incident
        (INV, INV, Mover.REOPEN, STAY),
        (INV, IDE, Mover.PERSON, MOVE),
        (INV, RES, Mover.PERSON, MOVE),
        (MON, IDE, Mover.PERSON, MOVE),  # people may go back while it is open
        (MON, INV, Mover.PERSON, MOVE),
    ],
)
def test_allowed_moves(
    current: IncidentStatus, to: IncidentStatus, by: Mover, decision: str
) -> None:
    assert decide_move(current, to, by) == decision


@pytest.mark.parametrize(
    ("current", "to", "by", "says"),
    [
        (RES, RES, Mover.PERSON, "it is resolved already"),
        (RES, MON, Mover.PERSON, "reopened only by a trigger firing again"),
        (RES, INV, Mover.PERSON, "reopened only by a trigger firing again"),
        (IDE, IDE, Mover.PERSON, "it is identified already"),
        (MON, RES, Mover.REOPEN, "goes back to investigating, not to resolved"),
    ],
)
def test_refused_moves_say_why(
    current: IncidentStatus, to: IncidentStatus, by: Mover, says: str
) -> None:
    decision = decide_move(current, to, by)
    assert decision not in (MOVE, STAY)
    assert says in decision


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _opened(store: Store) -> int:
    with store.session() as session:
        return open_incident(
            session,
            environment="production",
            service="api",
            title="api 1.1.0: error rate 12% > 5%",
            trigger="error_rate",
            release_id=None,
            rto_s=900.0,
            detected_at=DETECTED,
            impact_started_at=None,
            actor="watch",
        ).id


def _move(store: Store, incident_id: int, to: IncidentStatus, by: Mover, at: datetime) -> bool:
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return move_incident(session, incident, to, by=by, actor="carol", reason="why", at=at)


def test_each_move_is_one_status_changed_line_with_actor_reason_and_the_move(store: Store) -> None:
    incident_id = _opened(store)
    later = DETECTED + timedelta(minutes=3)

    assert _move(store, incident_id, IDE, Mover.PERSON, later)
    assert not _move(store, incident_id, IDE, Mover.BACKOUT, later), "already there: no line"

    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        moves = [e for e in incident.events if e.kind == "status_changed"]
        assert [(e.actor, e.message, e.evidence, e.at) for e in moves] == [
            ("carol", "investigating → identified: why", [{"from": INV, "to": IDE}], later)
        ]
        assert (incident.status, incident.recovered_at, incident.resolved_at) == (IDE, None, None)


def test_resolving_stops_the_clocks_and_reopening_clears_the_resolution(store: Store) -> None:
    incident_id = _opened(store)
    resolved_at = DETECTED + timedelta(minutes=10)

    _move(store, incident_id, RES, Mover.PERSON, resolved_at)
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        # A person resolving an incident nothing verified says the service is back: the
        # recovery clock stops there too, or the time to recover would stay unknown forever.
        assert (incident.recovered_at, incident.resolved_at) == (resolved_at, resolved_at)

    _move(store, incident_id, INV, Mover.REOPEN, resolved_at + timedelta(minutes=1))
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert (incident.status, incident.resolved_at) == (INV, None)


def test_a_refused_move_names_the_incident_and_changes_nothing(store: Store) -> None:
    incident_id = _opened(store)
    _move(store, incident_id, RES, Mover.PERSON, DETECTED)

    with pytest.raises(RefusedError, match=rf"incident {incident_id} cannot become resolved"):
        _move(store, incident_id, RES, Mover.PERSON, DETECTED)

    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert [e.kind for e in incident.events] == ["detected", "status_changed"]
