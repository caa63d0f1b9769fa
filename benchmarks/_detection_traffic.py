"""Uneven user traffic for the detection benchmark, from its own process (so that its threads do
not steal the interpreter from the probe and the watch loop being measured).

Every second the target rate takes a step of a random walk between 5 and 60 requests/s; a few
threads send a mix of what members do: list sessions (most), groups and members, and now and
then book a session, read the booking back and cancel it. A refused connection (the app between
two cases) is only counted.
"""

from __future__ import annotations

import random
import threading
import time
from multiprocessing.synchronize import Event

import httpx

from backout.demo import BOOKINGS_PATH, PROBE_PATH, SIGN_IN_PATH

LOWEST_RPS, HIGHEST_RPS = 5.0, 60.0
# Seeded members the benchmark's business flow (dev@) does not use: one per sending thread, so a
# member never races themself for a spot.
USERS = ("alice@example.com", "bob@example.com", "carla@example.com")
THREADS = len(USERS)
USER_SESSION = 4  # a seeded court session with room for them all, which no flow books
READS = [(PROBE_PATH, 0.65), ("/api/groups", 0.15), ("/api/members", 0.10)]  # rest: bookings


class RandomWalk:
    """The target rate, moved once a second; shared by the sending threads."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.rps = (LOWEST_RPS + HIGHEST_RPS) / 2
        self._moved_at = time.monotonic()
        self._lock = threading.Lock()

    def pause_s(self) -> float:
        """How long one thread waits between its requests to make up the current rate."""
        with self._lock:
            if time.monotonic() - self._moved_at >= 1.0:
                step = self._random.uniform(-15.0, 15.0)
                self.rps = min(max(self.rps + step, LOWEST_RPS), HIGHEST_RPS)
                self._moved_at = time.monotonic()
            return THREADS / self.rps


def _book_and_cancel(client: httpx.Client, user: str) -> None:
    signed_in = client.post(SIGN_IN_PATH, json={"email": user})
    if signed_in.status_code != 200:
        return
    bearer = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    booked = client.post(BOOKINGS_PATH, json={"session_id": USER_SESSION}, headers=bearer)
    if booked.status_code != 201:
        return
    booking = f"{BOOKINGS_PATH}/{booked.json()['id']}"
    client.get(booking, headers=bearer)
    client.delete(booking, headers=bearer)


def _send(base_url: str, walk: RandomWalk, stop: Event, seed: int, user: str) -> None:
    pick = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while not stop.is_set():
            try:
                roll, path = pick.random(), None
                for candidate, share in READS:
                    roll -= share
                    if roll < 0:
                        path = candidate
                        break
                if path is None:
                    _book_and_cancel(client, user)
                else:
                    client.get(path)
            except httpx.HTTPError:
                pass  # the app restarting between cases: users would retry later
            stop.wait(walk.pause_s())


def send_traffic(base_url: str, stop: Event, seed: int = 7) -> None:
    """Send until `stop` is set (the body of the traffic process)."""
    walk = RandomWalk(seed)
    threads = [
        threading.Thread(target=_send, args=(base_url, walk, stop, seed + i, user), daemon=True)
        for i, user in enumerate(USERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
