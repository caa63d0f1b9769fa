"""What a data check makes of the first column it reads: a number, a time, or why it is not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from backout.metrics.sql_reading import read_value
from backout.metrics.sql_settings import CheckKind

NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("first", "number"), [(7, 7.0), (2.5, 2.5), (Decimal("12"), 12.0), (0, 0.0)]
)
def test_a_count_is_any_number(first: object, number: float) -> None:
    assert read_value(CheckKind.COUNT, (first, "ignored")) == number


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (None, "returned NULL, not a number"),
        (True, "returned True (bool), not a number"),
        ("12", "returned '12' (str), not a number"),
        (float("inf"), "returned inf, not a finite number"),
    ],
)
def test_a_count_that_is_no_number_says_what_came_back(first: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_value(CheckKind.INVARIANT, (first,))


def test_no_row_is_no_value() -> None:
    with pytest.raises(ValueError, match="returned no rows"):
        read_value(CheckKind.COUNT, None)


@pytest.mark.parametrize(
    "first",
    [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 1, 1),  # no zone: UTC
        "2026-01-01 00:00:00",  # SQLite's text
        "2026-01-01T00:00:00+00:00",
        date(2026, 1, 1),
        NEW_YEAR,  # epoch seconds
    ],
)
def test_a_freshness_time_is_read_in_any_form_a_database_gives(first: object) -> None:
    assert read_value(CheckKind.FRESHNESS, (first,)) == NEW_YEAR


@pytest.mark.parametrize(
    ("first", "reason"),
    [(None, "returned NULL"), ("yesterday", "returned 'yesterday', not a time"), (b"x", "bytes")],
)
def test_a_freshness_that_is_no_time_says_what_came_back(first: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        read_value(CheckKind.FRESHNESS, (first,))
