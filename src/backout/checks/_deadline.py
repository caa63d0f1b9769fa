"""A hard deadline for blocking work whose library has no whole-exchange timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_within(work: Callable[[], T], timeout: float, *, name: str) -> T | None:
    """Run `work` in a daemon thread; None when it has not finished after `timeout` seconds.

    httpx's timeouts bound each read, not the whole exchange, and name resolution has none, so a
    check that must answer in time cannot rely on them alone. An exception raised by `work` (a
    bug, not an unhealthy target) is re-raised here.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None
