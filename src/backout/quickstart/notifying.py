"""Who the quickstart tells: `--notify-config FILE` gives the demo the people side of a real
backout.yaml (its `notifications:`, `contacts:` and `approvals:` sections, copied into the
workspace's config), and the story delivers what its incident queues as `backout watch` would —
from a thread of its own while the story runs, then what is left before it ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backout.clock import Clock
from backout.errors import ConfigError
from backout.notify.delivery import Deliverer, NotificationLoop, notifies
from backout.notify.outbox import SENT, UNSENT, counts_by_state
from backout.runtime import Runtime
from backout.safe_yaml import YamlProblem, read_yaml

PEOPLE_SECTIONS = ("notifications", "contacts", "approvals")
"""What a notify config may hold: the sections of backout.yaml that say who is told what."""

DELIVERY_INTERVAL_S = 0.5  # the demo's incident lasts seconds: a pass each second is too slow
DRAIN_DEADLINE_S = 15.0  # long enough for one retry of a target that failed once (10s back-off)


def read_people_sections(path: Path) -> dict[str, Any]:
    """The notify config's sections, to put into the demo's backout.yaml (they replace the
    demo's own); ConfigError naming a key that is not one of PEOPLE_SECTIONS."""
    try:
        data = read_yaml(path)
    except OSError as error:
        raise ConfigError(str(path), [f"cannot be read: {error.strerror}"]) from None
    except YamlProblem as problem:
        raise ConfigError(str(path), [problem.text]) from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(str(path), [f"expected a mapping with {', '.join(PEOPLE_SECTIONS)}"])
    unknown = [str(key) for key in data if key not in PEOPLE_SECTIONS]
    if unknown:
        raise ConfigError(
            str(path),
            [f"{key}: not a section a notify config holds" for key in unknown],
            hint=f"it holds only {', '.join(PEOPLE_SECTIONS)} (as in backout.yaml)",
        )
    return dict(data)


@dataclass
class Delivered:
    """How the story's notifications ended: sent, and still queued when the story ended."""

    sent: int = 0
    unsent: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "unsent": self.unsent}


@contextmanager
def delivering(runtime: Runtime, narrate: Callable[[str], None]) -> Iterator[Delivered]:
    """Send the notifications the story queues while it runs, and what is left when it ends
    (until nothing is left unsent, or DRAIN_DEADLINE_S); nothing at all for a config that
    tells no one."""
    delivered = Delivered()
    if not notifies(runtime.config):
        yield delivered
        return
    deliverer = Deliverer(runtime.config, runtime.store)
    stop = threading.Event()
    loop = NotificationLoop(deliverer, stop, interval_s=DELIVERY_INTERVAL_S)
    loop.start()
    try:
        yield delivered
    finally:
        stop.set()
        loop.join(timeout_s=DRAIN_DEADLINE_S)
    left = _unsent(counts_by_state(runtime.store))
    if left:
        narrate(
            f"sending the {left} notification(s) still queued (at most {DRAIN_DEADLINE_S:.0f}s)"
        )
    counts = _drain(runtime, deliverer, runtime.clock)
    delivered.sent = counts.get(SENT, 0)
    delivered.unsent = _unsent(counts)


def _drain(runtime: Runtime, deliverer: Deliverer, clock: Clock) -> dict[str, int]:
    """Deliver until nothing is left to send or the deadline; the counts by state then."""
    end = clock.monotonic() + DRAIN_DEADLINE_S
    counts = counts_by_state(runtime.store)
    while _unsent(counts) and clock.monotonic() < end:
        deliverer.deliver_once()
        clock.sleep(DELIVERY_INTERVAL_S)
        counts = counts_by_state(runtime.store)
    return counts


def _unsent(counts: dict[str, int]) -> int:
    return sum(counts.get(state, 0) for state in UNSENT)
