"""Fail points: make backout crash at a named place, for crash-recovery tests and drills.

`BACKOUT_FAILPOINTS="executor.after_step=3"` kills the process with SIGKILL right after step 3
of a run is recorded as finished; several points are separated by commas. Off unless set.
A point given without `=value` fires at every place it names.

    executor.after_step=N    step N is recorded as finished (succeeded or skipped)
    executor.after_act=N     step N's run() returned (it took effect) but nothing is recorded
                             yet: on resume the step is found `running` and must observe() it
    deploy.after_driver=N    the deploy step N's driver put the release live, before the store
                             records it as the live release
    static-s3.after_sync=V   the static-s3 driver made the live prefix hold version V, before
                             its live marker says so
"""

from __future__ import annotations

import os
import signal


def _armed() -> dict[str, str]:
    spec = os.environ.get("BACKOUT_FAILPOINTS", "")
    points: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        points[name] = value
    return points


def hit(name: str, value: object = "") -> None:
    """Crash here, as a power cut would, when the fail point `name` is armed for `value`."""
    armed = _armed()
    if name in armed and armed[name] in ("", str(value)):
        os.kill(os.getpid(), signal.SIGKILL)
