"""The runbook's checklist as data: each item checked by backout when it happens, or confirmed
by a person — the first of the two counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backout.errors import NotFoundError
from backout.incidents.checklist import CHECKLIST, Happened, Phase, checklist_item, checklist_state

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def done(happened: list[Happened]) -> dict[str, tuple[str | None, str | None]]:
    return {s.item.id: (s.by, s.how) for s in checklist_state(happened) if s.done}


def test_the_runbook_checklist_in_its_four_phases() -> None:
    by_phase = {phase: [i.id for i in CHECKLIST if i.phase is phase] for phase in Phase}

    assert {phase: len(ids) for phase, ids in by_phase.items()} == {
        Phase.PRE: 4,
        Phase.DURING: 4,
        Phase.POST: 5,
        Phase.FOLLOW_UP: 4,
    }
    assert len({i.id for i in CHECKLIST}) == len(CHECKLIST), "ids are unique"
    assert checklist_item("decision_made").text == "Rollback approved by incident commander"


@pytest.mark.parametrize(
    ("happened", "expected"),
    [
        pytest.param([], {}, id="nothing yet"),
        pytest.param(
            [Happened("deploy", at(1), "backout-watch", is_step=True)],
            {"previous_version": ("backout-watch", "previous version deployed")},
            id="a step that succeeded",
        ),
        pytest.param(
            [Happened("recovered", at(2), "backout-watch")],
            {"health_verified": ("backout-watch", "health checks passing")},
            id="an event on the timeline",
        ),
        pytest.param(
            [Happened("deploy", at(1), "x")],
            {},
            id="an event named like a step checks nothing",
        ),
        pytest.param(
            [Happened("checklist_confirmed", at(3), "alice", item="root_cause")],
            {"root_cause": ("alice", "confirmed")},
            id="a person's confirmation",
        ),
        pytest.param(
            [
                Happened("approved", at(5), "token:approver"),
                Happened("checklist_confirmed", at(4), "carol", item="decision_made"),
            ],
            {"decision_made": ("carol", "confirmed")},
            id="the first of a confirmation and a check counts",
        ),
    ],
)
def test_where_each_item_stands(
    happened: list[Happened], expected: dict[str, tuple[str | None, str | None]]
) -> None:
    assert done(happened) == expected


def test_an_unknown_item_lists_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="there is no checklist item 'tests'") as raised:
        checklist_item("tests")

    assert raised.value.hint is not None
    assert "root_cause" in raised.value.hint
