"""The demo app's rehearsal conditions: noise and faults switched on by its environment, counted
by its /metrics under the route they hit, and refused with the variable's name when malformed."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from demo_support import RunningApp, launch
from test_demo_metrics import requests, samples

from backout.demo import (
    BROKEN_ROUTE_ENV,
    ERROR_BURST_ENV,
    ERROR_RATE_ENV,
    EXTRA_LATENCY_ENV,
    FAULT_RATE_ENV,
    HEALTH_PATH,
    PROBE_PATH,
    SIGN_IN_PATH,
    SLOWDOWN_ENV,
    TEMPLATE_DIR,
)

EXIT_DEADLINE_S = 20.0


def test_a_broken_route_fails_every_time_and_is_counted_under_its_route(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.0.0", **{BROKEN_ROUTE_ENV: "GET /api/groups"})
    with app.client() as client:
        answers = [client.get("/api/groups").status_code for _ in range(5)]
        members = client.get("/api/members").status_code
        health = client.get(HEALTH_PATH).status_code

    assert answers == [500] * 5
    assert (members, health) == (200, 200)
    assert samples(app)[requests("GET", "/api/groups", "500", "1.0.0")] == 5


def test_an_injected_error_fails_before_the_handler_so_nothing_is_half_done(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.0.0", **{ERROR_RATE_ENV: "1"})
    with app.client() as client:
        refused = client.post(SIGN_IN_PATH, json={"email": "dev@example.com"})
        health = client.get(HEALTH_PATH)

    assert refused.status_code == 500
    assert refused.json() == {"detail": "injected fault"}
    assert health.status_code == 200  # only /api/ requests are touched
    assert samples(app)[requests("POST", SIGN_IN_PATH, "500", "1.0.0")] == 1


def test_a_slowdown_holds_each_answer_back_in_proportion(
    start_app: Callable[..., RunningApp],
) -> None:
    # 1.1.0's sessions list waits EXTRA_LATENCY on its waitlist path (all of it here): 150 ms,
    # three times over with the slowdown. A lower bound only: nothing can make it faster.
    app = start_app("1.1.0", **{FAULT_RATE_ENV: "1", EXTRA_LATENCY_ENV: "150", SLOWDOWN_ENV: "3"})
    with app.client() as client:
        started = time.perf_counter()
        client.get(PROBE_PATH)
        took = time.perf_counter() - started

    assert took >= 0.45


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (ERROR_RATE_ENV, "lots", "is not a number"),
        (ERROR_RATE_ENV, "1.5", "is outside 0..1"),
        (SLOWDOWN_ENV, "0.5", "is outside 1..100"),
        (ERROR_BURST_ENV, "5,1", "expected AFTER_S,FOR_S,ERROR_RATE"),
        (ERROR_BURST_ENV, "5,0,0.3", "seconds must be positive"),
        (BROKEN_ROUTE_ENV, "GET groups", "expected METHOD /api/PATH-TEMPLATE"),
    ],
)
def test_a_malformed_condition_stops_the_app_at_start_naming_the_variable(
    checkout: Callable[[str], Path], tmp_path: Path, variable: str, value: str, said: str
) -> None:
    app = launch(checkout("1.0.0"), tmp_path, {variable: value})
    app.process.wait(timeout=EXIT_DEADLINE_S)

    log = app.log.read_text()
    assert app.process.returncode != 0
    assert f"{variable}={value!r}" in log
    assert said in log


def _conditions_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The app's conditions.py, loaded on its own (it needs no more of the app than FastAPI)."""
    path = TEMPLATE_DIR / "badminton" / "conditions.py"
    spec = importlib.util.spec_from_file_location("demo_conditions", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def test_a_burst_fails_requests_only_while_it_lasts_then_the_background_rate_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ERROR_BURST_ENV, "5,1,0.3")
    monkeypatch.setenv(ERROR_RATE_ENV, "0.01")
    conditions = _conditions_module(monkeypatch).from_environment()

    rates = [conditions.error_rate_at(s) for s in (0.0, 4.99, 5.0, 5.5, 6.0, 60.0)]

    assert rates == [0.01, 0.01, 0.3, 0.3, 0.01, 0.01]
