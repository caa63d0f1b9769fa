"""`backout watch` sends what any process queued, from a thread of its own: a target that hangs
holds no lock a rollback needs."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time

from tests.notify.conftest import NotifySite, Receiver, wait_for
from tests.notify.test_delivery import team


def test_the_watch_loop_tells_what_a_cli_rollback_queued(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    watch = nsite.start("watch")

    assert nsite.backout("rollback", "api", "--yes").returncode == 0
    wait_for(lambda: len(receiver.received) == 4, "the watch loop to send the 4 notifications")

    watch.send_signal(signal.SIGTERM)
    watch.wait(30)
    assert {n["state"] for n in nsite.notifications()} == {"sent"}


class Hanging:
    """A webhook on loopback that takes each connection and never answers: a target that hangs
    a send for as long as its timeout."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.taken: list[socket.socket] = []
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self) -> None:
        with contextlib.suppress(OSError):  # closed at the end of the test
            while True:
                self.taken.append(self._listener.accept()[0])

    def close(self) -> None:
        for connection in [*self.taken, self._listener]:
            connection.close()


def test_a_target_that_hangs_slows_no_rollback_beside_the_watch_loop(nsite: NotifySite) -> None:
    hanging = Hanging()
    try:
        hook = f"json://127.0.0.1:{hanging.port}/hook"
        nsite.tell(
            {
                "notifications": {
                    "channels": {"hook": hook},
                    "audiences": {"team": {"channels": ["hook"]}},
                    "timeout": "120s",
                }
            }
        )
        nsite.start("watch")
        assert nsite.backout("rollback", "web", "--yes").returncode == 0
        wait_for(lambda: len(hanging.taken) == 1, "the watch loop's first send, hanging")

        started = time.monotonic()
        rollback = nsite.backout("rollback", "api", "--yes")
        took_s = time.monotonic() - started

        assert rollback.returncode == 0, rollback.stderr
        assert nsite.live_version("api") == "1.0.0"
        assert len(hanging.taken) == 1, "the send still hangs: the rollback did not wait for it"
        assert took_s < 30, f"the rollback took {took_s:.1f}s"
        states = [n["state"] for n in nsite.notifications()]
        assert states[0] == "sending"
        assert set(states[1:]) == {"pending"}, "the target's later ones wait their turn"
    finally:
        hanging.close()
