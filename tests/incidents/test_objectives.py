"""Objectives measured, not promised: each milestone of an incident against its budget, met,
missed, or not yet known — and missed already once the budget ran out before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backout.incidents.objectives import IncidentClock, decision_moments, measure

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
RTO = 900.0  # a critical service's 15 minutes
MONITOR = 1800.0


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


BASE = IncidentClock(detected_at=at(0), rto_s=RTO, monitor_s=MONITOR)


def rows(clock: IncidentClock, now: datetime) -> dict[str, tuple[Any, ...]]:
    return {o.name: (o.objective_s, o.measured_s, o.met) for o in measure(clock, now)}


@pytest.mark.parametrize(
    ("changes", "now", "expected"),
    [
        pytest.param(
            {"impact_started_at": at(-2), "recovered_at": at(5), "resolved_at": at(36)},
            at(40),
            {
                "time_to_detect": (RTO, 120.0, True),
                "time_to_recover": (RTO, 300.0, True),
                "time_to_resolve": (RTO + MONITOR, 2160.0, True),
            },
            id="a fast recovery meets everything",
        ),
        pytest.param(
            {"impact_started_at": at(-20), "recovered_at": at(16)},
            at(17),
            {
                "time_to_detect": (RTO, 1200.0, False),
                "time_to_recover": (RTO, 960.0, False),
                "time_to_resolve": (RTO + MONITOR, None, None),
            },
            id="slow detection and recovery are missed",
        ),
        pytest.param(
            {},
            at(10),
            {
                "time_to_detect": (RTO, None, None),
                "time_to_recover": (RTO, None, None),
                "time_to_resolve": (RTO + MONITOR, None, None),
            },
            id="open, within budget: not yet known",
        ),
        pytest.param(
            {},
            at(16),
            {
                "time_to_detect": (RTO, None, None),
                "time_to_recover": (RTO, None, False),
                "time_to_resolve": (RTO + MONITOR, None, None),
            },
            id="open past the RTO: recovery missed already",
        ),
        pytest.param(
            {"monitor_s": None, "recovered_at": at(1), "resolved_at": at(2)},
            at(3),
            {
                "time_to_detect": (RTO, None, None),
                "time_to_recover": (RTO, 60.0, True),
                "time_to_resolve": (None, 120.0, None),
            },
            id="a service no longer configured: no resolution budget",
        ),
    ],
)
def test_milestones_against_the_rto(
    changes: dict[str, Any], now: datetime, expected: dict[str, tuple[Any, ...]]
) -> None:
    assert rows(replace(BASE, **changes), now) == expected


@pytest.mark.parametrize(
    ("decided_at", "now", "expected"),
    [
        (at(4), at(5), (RTO, 240.0, True)),
        (at(20), at(21), (RTO, 1200.0, False)),
        (None, at(5), (RTO, None, None)),
        (None, at(16), (RTO, None, False)),
    ],
)
def test_time_to_decide_where_a_gated_step_asked_for_approval(
    decided_at: datetime | None, now: datetime, expected: tuple[Any, ...]
) -> None:
    clock = replace(BASE, decision_asked=True, decided_at=decided_at)

    assert rows(clock, now)["time_to_decide"] == expected
    assert "time_to_decide" not in rows(BASE, now), "no gate, no decision to measure"


@pytest.mark.parametrize(
    ("loss_s", "objective_s", "expected"),
    [
        (12.0, 60.0, (60.0, 12.0, True)),
        (90.0, 60.0, (60.0, 90.0, False)),
        (None, 60.0, (60.0, None, None)),  # restored, but the window is unknown
    ],
)
def test_the_data_loss_window_of_a_restore_against_its_rpo(
    loss_s: float | None, objective_s: float, expected: tuple[Any, ...]
) -> None:
    clock = replace(BASE, data_loss_s=loss_s, rpo_objective_s=objective_s)

    assert rows(clock, at(100))["data_loss_window"] == expected
    assert "data_loss_window" not in rows(BASE, at(100)), "no restore, no window"


def test_the_objectives_come_in_the_order_of_the_incident() -> None:
    clock = replace(BASE, decision_asked=True, rpo_objective_s=60.0)

    assert [o.name for o in measure(clock, at(1))] == [
        "time_to_detect",
        "time_to_decide",
        "time_to_recover",
        "time_to_resolve",
        "data_loss_window",
    ]


def test_the_decision_is_the_first_approval_after_a_gate() -> None:
    events = [("detected", at(0)), ("awaiting_approval", at(1)), ("approved", at(3))]

    assert decision_moments([*events, ("approved", at(9))]) == (True, at(3))
    assert decision_moments([("detected", at(0))]) == (False, None)
