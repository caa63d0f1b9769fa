"""Business flows against a real HTTP server on loopback: templating, extraction, expectations,
clean-up steps, bounds, and the metrics of a window of runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backout.config import PluginSpec
from backout.demo import booking_flow
from backout.errors import ConfigError
from backout.metrics import METRIC_SOURCES
from backout.metrics.flow import FlowSource, summarise
from backout.metrics.flow_run import FlowRun, fill, fill_json, run_flow
from backout.metrics.flow_settings import MAX_RESPONSE_BYTES, FlowSettings
from backout.registry import PluginContext


class _Api(ThreadingHTTPServer):
    """Answers each (method, path) as told; keeps every request it was sent."""

    answers: dict[tuple[str, str], tuple[int, bytes]]
    received: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _Api

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.received.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "json": json.loads(body) if body else None,
            }
        )
        status, content = self.server.answers.get((self.command, self.path), (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def api() -> Iterator[_Api]:
    httpd = _Api(("127.0.0.1", 0), _Handler)
    httpd.answers, httpd.received = {}, []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(api: _Api) -> str:
    return f"http://127.0.0.1:{api.server_address[1]}"


def _answer(api: _Api, method: str, path: str, status: int, body: Any) -> None:
    api.answers[(method, path)] = (status, json.dumps(body).encode())


BOOKING_STEPS: list[dict[str, Any]] = [
    {
        "name": "signin",
        "method": "POST",
        "path": "/signin",
        "json": {"email": "${email}"},
        "extract": {"token": "token"},
    },
    {
        "name": "book",
        "method": "POST",
        "path": "/bookings",
        "headers": {"Authorization": "Bearer ${token}"},
        "json": {"session_id": "${session}", "note": "for ${email}"},
        "expect": {"status": 201, "json": {"session_id": 2}},
        "extract": {"booking": "id"},
    },
    {
        "name": "cancel",
        "method": "DELETE",
        "path": "/bookings/${booking}",
        "headers": {"Authorization": "Bearer ${token}"},
        "always": True,
    },
]


def _settings(api: _Api, steps: list[dict[str, Any]] = BOOKING_STEPS, **more: Any) -> FlowSettings:
    return FlowSettings.model_validate(
        {
            "base_url": _url(api),
            "variables": {"email": "dev@example.com", "session": 2},
            "steps": steps,
            **more,
        }
    )


def _run(api: _Api, settings: FlowSettings | None = None) -> FlowRun:
    with httpx.Client(base_url=_url(api), timeout=2) as client:
        return run_flow(client, settings or _settings(api))


def _serve_booking(api: _Api, *, book_status: int = 201) -> None:
    _answer(api, "POST", "/signin", 200, {"token": "t0k/en"})
    _answer(api, "POST", "/bookings", book_status, {"id": 7, "session_id": 2})
    _answer(api, "DELETE", "/bookings/7", 200, {"id": 7})


def test_values_are_carried_from_one_answer_to_the_next(api: _Api) -> None:
    _serve_booking(api)

    run = _run(api)

    assert run.passed, run.failure
    signin, book, cancel = api.received
    assert signin["json"] == {"email": "dev@example.com"}
    assert book["headers"]["Authorization"] == "Bearer t0k/en"
    assert book["json"] == {"session_id": 2, "note": "for dev@example.com"}  # 2 stays a number
    assert (cancel["method"], cancel["path"]) == ("DELETE", "/bookings/7")
    assert run.duration_s > 0


def test_a_failed_step_names_itself_and_skips_the_rest_but_the_clean_up(api: _Api) -> None:
    _serve_booking(api)
    _answer(api, "POST", "/bookings", 201, {"id": 7, "session_id": 3})
    steps = [*BOOKING_STEPS[:2], {"name": "read", "path": "/bookings/${booking}"}, BOOKING_STEPS[2]]

    run = _run(api, _settings(api, steps))

    assert run.failure == "step 'book': session_id is 3, expected 2"
    assert [r["path"] for r in api.received] == ["/signin", "/bookings", "/bookings/7"]
    assert api.received[-1]["method"] == "DELETE"  # read skipped, cancel ran


def test_a_clean_up_step_without_its_values_is_skipped(api: _Api) -> None:
    _serve_booking(api, book_status=500)

    run = _run(api)

    assert run.failure == "step 'book': expected 201, got 500"
    assert [r["method"] for r in api.received] == ["POST", "POST"]  # nothing to cancel


def test_a_failing_clean_up_fails_a_run_that_passed_so_far(api: _Api) -> None:
    _serve_booking(api)
    _answer(api, "DELETE", "/bookings/7", 500, {"detail": "database error"})

    assert _run(api).failure == "step 'cancel': expected 2xx, got 500"


@pytest.mark.parametrize(
    ("expect", "answer", "failure"),
    [
        ({"status": [200, 204]}, (201, {}), "expected 200 or 204, got 201"),
        ({"json": {"ok": True}}, (200, {"ok": 1}), "ok is 1, expected true"),
        (
            {"json": {"items[0].name": "a"}},
            (200, {"items": []}),
            'items[0].name is null, expected "a"',
        ),
        ({"json": {"n": 1}}, (200, "x" * 200), "n is null, expected 1"),
    ],
)
def test_expectations_say_what_was_found_and_expected(
    api: _Api, expect: dict[str, Any], answer: tuple[int, Any], failure: str
) -> None:
    _answer(api, "GET", "/thing", *answer)
    steps = [{"name": "look", "path": "/thing", "expect": expect}]

    assert _run(api, _settings(api, steps)).failure == f"step 'look': {failure}"


def test_an_extraction_that_finds_nothing_fails_its_step(api: _Api) -> None:
    _answer(api, "POST", "/signin", 200, {"detail": "no token today"})

    assert _run(api).failure == "step 'signin': nothing to extract as token: token found nothing"


def test_an_answer_that_is_not_json_fails_a_step_that_reads_it(api: _Api) -> None:
    api.answers[("POST", "/signin")] = (200, b"<html>")

    assert _run(api).failure == "step 'signin': the answer is not JSON"


def test_a_larger_answer_than_the_bound_is_not_read(api: _Api) -> None:
    api.answers[("POST", "/signin")] = (200, b" " * (MAX_RESPONSE_BYTES + 1))

    assert _run(api).failure == "step 'signin': the answer is larger than 1024 KiB"


def test_a_service_that_is_down_fails_the_first_step() -> None:
    settings = FlowSettings.model_validate(
        {"base_url": "http://127.0.0.1:9", "steps": [{"name": "home", "path": "/"}]}
    )
    with httpx.Client(base_url=settings.base_url, timeout=2) as client:
        failure = run_flow(client, settings).failure

    assert failure is not None
    assert failure.startswith("step 'home': no answer (")


def test_templates_quote_values_in_paths_and_keep_types_in_json() -> None:
    variables = {"id": "a b/c", "n": 7, "yes": True}

    assert fill("/x/${id}/$n", variables, for_path=True) == "/x/a%20b%2Fc/7"
    assert fill("cost: $$${n}", variables) == "cost: $7"
    assert fill_json({"a": ["${n}", "n=${n}", "${yes}", 3]}, variables) == {
        "a": [7, "n=7", True, 3]
    }


def test_the_window_gives_failure_rate_durations_and_the_last_failure() -> None:
    runs = [FlowRun(1000.0 + i, 0.1 * (i + 1)) for i in range(6)]
    runs.append(FlowRun(1010.0, 0.01, "step 'book': expected 201, got 500"))

    snapshot = summarise(runs, 60.0, "signin → book")

    assert snapshot.values["flow_failure_rate"] == pytest.approx(1 / 7)
    assert snapshot.values["flow_duration_p50"] == pytest.approx(0.35)  # of the 6 that passed
    assert snapshot.values["flow_runs"] == 7
    assert snapshot.samples == 7
    assert snapshot.measured_by["flow_failure_rate"] == (
        "flow 'signin → book': 1 of 7 runs failed, the last at 00:16:50Z: "
        "step 'book': expected 201, got 500"
    )
    assert snapshot.summary() == "flow failures 14.3%, flow p95 575ms, 7 runs"
    assert summarise([], 60.0, "x").value("flow_failure_rate") is None


def test_a_started_flow_runs_on_its_interval_and_counts_failures(api: _Api) -> None:
    _serve_booking(api, book_status=500)
    source = FlowSource(_settings(api, interval="100ms", window="10s"))
    source.start()
    try:
        deadline = time.monotonic() + 10
        while source.snapshot().samples < 3:
            assert time.monotonic() < deadline, "the flow did not run"
            time.sleep(0.02)
        snapshot = source.snapshot()
    finally:
        source.close()

    assert snapshot.values["flow_failure_rate"] == 1.0
    assert "step 'book': expected 201, got 500" in snapshot.measured_by["flow_failure_rate"]


WHERE = ("services", "api", "metrics")


def _problems(tmp_path: Path, **settings: Any) -> list[str]:
    context = PluginContext("api", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")
    with pytest.raises(ConfigError) as raised:
        METRIC_SOURCES.build(PluginSpec(type="flow", **settings), WHERE, context)
    return raised.value.problems


def test_a_variable_no_step_defines_is_refused_naming_its_key(tmp_path: Path) -> None:
    steps = [
        {"name": "cancel", "method": "DELETE", "path": "/bookings/${booking}"},
        {"name": "book", "path": "/b", "extract": {"booking": "id"}},
    ]

    assert _problems(tmp_path, base_url="http://x", steps=steps) == [
        "services.api.metrics.steps[0].path: ${booking} is not defined: no earlier step "
        "extracts it, and variables: does not set it"
    ]


def test_each_problem_of_a_flow_names_its_key(tmp_path: Path) -> None:
    steps = [
        {"name": "a", "path": "/a", "headers": {"X": "${who"}, "extract": {"1st": "id"}},
        {
            "name": "a",
            "path": "b",
            "json": {"q": [{"r": "$missing"}]},
            "expect": {"json": {"a[": 1}},
        },
    ]

    problems = _problems(tmp_path, base_url="ftp://x", window="1s", interval="5s", steps=steps)

    assert [p.split(": ")[0] for p in problems] == [
        "services.api.metrics.base_url",
        "services.api.metrics.window",
        "services.api.metrics.steps[0].headers.X",
        "services.api.metrics.steps[0].extract.1st",
        "services.api.metrics.steps[1].name",
        "services.api.metrics.steps[1].path",
        "services.api.metrics.steps[1].json.q[0].r",
        "services.api.metrics.steps[1].expect.json.a[",
    ]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"interval": "10ms"}, "interval"),
        ({"interval": "2h"}, "interval"),
        ({"timeout": "5m"}, "timeout"),
        ({"steps": []}, "steps"),
        ({"steps": [{"name": f"s{i}", "path": "/"} for i in range(21)]}, "steps"),
        ({"steps": [{"name": "s", "path": "/", "expect": {"status": "ok"}}]}, "steps[0].expect"),
        ({"steps": [{"name": "s", "path": "/", "expect": {"status": 2000}}]}, "steps[0].expect"),
    ],
)
def test_bounds_are_refused_naming_the_key(
    tmp_path: Path, settings: dict[str, Any], key: str
) -> None:
    base = {"base_url": "http://x", "steps": [{"name": "s", "path": "/"}]}

    problems = _problems(tmp_path, **(base | settings))

    assert problems
    assert all(p.startswith(f"services.api.metrics.{key}") for p in problems), problems


def test_the_documented_flow_is_the_demo_flow_and_loads(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    section = docs.split("## Business flows", 1)[1]
    example = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    documented = example["services"]["backend"]["metrics"]

    assert documented["steps"] == booking_flow("http://x")["steps"]
    context = PluginContext("backend", tmp_path / "backout.yaml", tmp_path, tmp_path)
    spec = PluginSpec.model_validate(documented)
    assert METRIC_SOURCES.build(spec, WHERE, context).provides.names() == [
        "flow_duration_p50",
        "flow_duration_p95",
        "flow_failure_rate",
        "flow_runs",
    ]
