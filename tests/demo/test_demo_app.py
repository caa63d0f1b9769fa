"""The demo Badminton Group app, run as a real uvicorn process from a checkout of each tag."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from demo_support import RunningApp, launch, stop, wait_until_answering

from backout.demo import HEALTH_PATH, PROBE_PATH, DemoRepo


def sessions_statuses(app: RunningApp, count: int) -> list[int]:
    with app.client() as client:
        return [client.get(PROBE_PATH).status_code for _ in range(count)]


def test_good_release_is_healthy_and_reports_its_version(good_app: RunningApp) -> None:
    with good_app.client() as client:
        health = client.get(HEALTH_PATH)
        version = client.get("/version")

    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": "1.0.0", "database": "ok"}
    assert version.json() == {"version": "1.0.0"}


def test_good_release_serves_every_sessions_request_even_when_asked_to_fail(
    good_app: RunningApp,
) -> None:
    # good_app runs with BADMINTON_FAULT_RATE=1: the knob belongs to 1.1.0 alone.
    assert sessions_statuses(good_app, 100) == [200] * 100


def test_sessions_lists_the_seeded_court_sessions_with_spots_left(good_app: RunningApp) -> None:
    with good_app.client() as client:
        sessions = client.get(PROBE_PATH).json()

    assert len(sessions) == 5
    first = sessions[0]
    assert first["group"]["name"] == "Tuesday Smashers"
    assert first["spots_left"] == first["capacity"] - first["booked"]
    assert [s["starts_at"] for s in sessions] == sorted(s["starts_at"] for s in sessions)


def test_members_and_groups_list_the_seeded_rows(good_app: RunningApp) -> None:
    with good_app.client() as client:
        members = client.get("/api/members").json()
        groups = client.get("/api/groups").json()

    assert [m["email"] for m in members][:2] == ["alice@example.com", "bob@example.com"]
    assert {g["name"]: g["members"] for g in groups} == {
        "Tuesday Smashers": 3,
        "Weekend Shuttlers": 2,
    }


def test_signed_in_member_books_a_spot_once(good_app: RunningApp) -> None:
    with good_app.client() as client:
        signin = client.post("/api/signin", json={"email": "Dev@Example.com "})
        token = signin.json()["token"]
        before = {s["id"]: s["spots_left"] for s in client.get(PROBE_PATH).json()}
        booking = client.post(
            "/api/bookings", json={"session_id": 2}, headers={"Authorization": f"Bearer {token}"}
        )
        again = client.post(
            "/api/bookings", json={"session_id": 2}, headers={"Authorization": f"Bearer {token}"}
        )
        after = {s["id"]: s["spots_left"] for s in client.get(PROBE_PATH).json()}

    assert signin.status_code == 200
    assert signin.json()["member"]["name"] == "Dev Patel"
    assert booking.status_code == 201
    assert booking.json()["spots_left"] == before[2] - 1
    assert after[2] == before[2] - 1
    assert again.status_code == 409


def test_booking_needs_a_token_that_sign_in_issued(good_app: RunningApp) -> None:
    with good_app.client() as client:
        anonymous = client.post("/api/bookings", json={"session_id": 2})
        forged = client.post(
            "/api/bookings", json={"session_id": 2}, headers={"Authorization": "Bearer forged"}
        )
        stranger = client.post("/api/signin", json={"email": "nobody@example.com"})

    assert anonymous.status_code == 401
    assert forged.status_code == 401
    assert stranger.status_code == 401


def test_booking_a_session_that_does_not_exist_is_404(good_app: RunningApp) -> None:
    with good_app.client() as client:
        token = client.post("/api/signin", json={"email": "alice@example.com"}).json()["token"]
        booking = client.post(
            "/api/bookings", json={"session_id": 999}, headers={"Authorization": f"Bearer {token}"}
        )

    assert booking.status_code == 404


def _bearer(client: httpx.Client, email: str) -> dict[str, str]:
    token = client.post("/api/signin", json={"email": email}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_member_reads_a_booking_back_and_cancels_it_freeing_its_spot(
    good_app: RunningApp,
) -> None:
    with good_app.client() as client:
        auth = _bearer(client, "carla@example.com")
        before = {s["id"]: s["spots_left"] for s in client.get(PROBE_PATH).json()}
        booking = client.post("/api/bookings", json={"session_id": 4}, headers=auth).json()
        read = client.get(f"/api/bookings/{booking['id']}", headers=auth)
        cancelled = client.delete(f"/api/bookings/{booking['id']}", headers=auth)
        gone = client.get(f"/api/bookings/{booking['id']}", headers=auth)
        again = client.delete(f"/api/bookings/{booking['id']}", headers=auth)
        after = {s["id"]: s["spots_left"] for s in client.get(PROBE_PATH).json()}
        rebooked = client.post("/api/bookings", json={"session_id": 4}, headers=auth)

    assert read.status_code == 200
    assert read.json() == {k: booking[k] for k in ("id", "session_id", "member_id", "created_at")}
    assert cancelled.status_code == 200
    assert cancelled.json()["id"] == booking["id"]
    assert (gone.status_code, again.status_code) == (404, 404)
    assert after[4] == before[4]
    assert rebooked.status_code == 201


def test_a_booking_is_read_and_cancelled_only_with_its_members_token(
    good_app: RunningApp,
) -> None:
    with good_app.client() as client:
        owner = _bearer(client, "bob@example.com")
        booking = client.post("/api/bookings", json={"session_id": 5}, headers=owner).json()
        path = f"/api/bookings/{booking['id']}"
        anonymous = [client.get(path).status_code, client.delete(path).status_code]
        forged = client.get(path, headers={"Authorization": "Bearer forged"}).status_code
        other = _bearer(client, "alice@example.com")
        by_other = [client.get(path, headers=other), client.delete(path, headers=other)]
        still_there = client.get(path, headers=owner).status_code

    assert anonymous == [401, 401]
    assert forged == 401
    assert [r.status_code for r in by_other] == [404, 404]  # as if it did not exist
    assert still_there == 200


def test_front_page_is_the_built_page_stamped_with_the_version(good_app: RunningApp) -> None:
    with good_app.client() as client:
        page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<meta name="app-version" content="1.0.0">' in page.text
    assert "{{ version }}" not in page.text


def test_front_page_is_503_until_the_build_step_has_run(
    demo_repo: DemoRepo, tmp_path: Path
) -> None:
    unbuilt = tmp_path / "unbuilt"
    subprocess.run(
        ["git", "worktree", "add", "--quiet", "--detach", str(unbuilt), "v1.0.0"],
        cwd=demo_repo.path,
        check=True,
        capture_output=True,
    )
    app = launch(unbuilt, tmp_path, {})
    try:
        wait_until_answering(app)
        with app.client() as client:
            page = client.get("/")
            health = client.get(HEALTH_PATH)
    finally:
        stop(app.process)

    assert page.status_code == 503
    assert "python -m badminton.build" in page.text
    assert health.status_code == 200


def test_bad_release_fails_a_share_of_sessions_requests(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.1.0", BADMINTON_FAULT_RATE="0.5", BADMINTON_EXTRA_LATENCY_MS="0")

    statuses = sessions_statuses(app, 200)

    assert set(statuses) == {200, 500}
    assert 60 <= statuses.count(500) <= 140  # 100 expected; 5.6 standard deviations either way


def test_bad_release_is_still_healthy_so_only_traffic_shows_the_fault(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.1.0", BADMINTON_FAULT_RATE="1", BADMINTON_EXTRA_LATENCY_MS="0")
    with app.client() as client:
        health = client.get(HEALTH_PATH)
        sessions = client.get(PROBE_PATH)

    assert health.json() == {"status": "ok", "version": "1.1.0", "database": "ok"}
    assert sessions.status_code == 500
    assert "no such table: waitlist" in app.log.read_text()


def test_bad_release_by_default_fails_and_slows_the_sessions_requests_on_its_waitlist_path(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.1.0")
    durations: dict[int, list[float]] = {200: [], 500: []}
    with app.client() as client:
        for _ in range(40):
            started = time.monotonic()
            status = client.get(PROBE_PATH).status_code
            durations[status].append(time.monotonic() - started)

    # 30 % of 40 take the waitlist path: the chance of none is 0.7**40, about 6e-7.
    assert durations[500], "the waitlist path fails"
    assert durations[200], "the rest is served"
    assert min(durations[500]) >= 0.040, "and it waits for its waitlist refresh first"


def test_health_is_503_while_the_database_is_unusable_and_200_once_it_is(
    start_app: Callable[..., RunningApp], tmp_path: Path
) -> None:
    missing_folder = tmp_path / "not-yet"
    app = start_app("1.0.0", BADMINTON_DB=str(missing_folder / "badminton.db"))
    with app.client() as client:
        broken = client.get(HEALTH_PATH)
        sessions = client.get(PROBE_PATH)
        missing_folder.mkdir()
        repaired = client.get(HEALTH_PATH)

    assert broken.status_code == 503
    assert broken.json()["status"] != "ok"
    assert broken.json()["version"] == "1.0.0"
    assert sessions.status_code == 500
    assert repaired.status_code == 200


def test_bad_release_told_to_breaks_booking_alone_health_and_sessions_stay_green(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app(
        "1.1.0",
        BADMINTON_FAULT_RATE="0",
        BADMINTON_EXTRA_LATENCY_MS="0",
        BADMINTON_BOOKING_FAULT_RATE="1",
    )
    with app.client() as client:
        auth = _bearer(client, "dev@example.com")
        booking = client.post("/api/bookings", json={"session_id": 2}, headers=auth)
        health = client.get(HEALTH_PATH)

    assert booking.status_code == 500
    assert "no such table: waitlist" in app.log.read_text()
    assert health.status_code == 200
    assert sessions_statuses(app, 50) == [200] * 50


def test_bad_release_by_default_books_reads_back_and_cancels(
    start_app: Callable[..., RunningApp],
) -> None:
    app = start_app("1.1.0", BADMINTON_FAULT_RATE="0")
    with app.client() as client:
        auth = _bearer(client, "dev@example.com")
        booking = client.post("/api/bookings", json={"session_id": 2}, headers=auth)
        path = f"/api/bookings/{booking.json()['id']}"
        statuses = [client.get(path, headers=auth).status_code]
        statuses.append(client.delete(path, headers=auth).status_code)

    assert booking.status_code == 201
    assert statuses == [200, 200]
