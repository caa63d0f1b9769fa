"""The span a sampling source's snapshot covers: one rule for the probe, flows and data checks."""

from __future__ import annotations


def window_start(
    now: float, window_s: float, since: float | None, started_at: float | None
) -> float:
    """Where a snapshot's window begins (epoch seconds): `window_s` back from `now`, but not
    before `since` (what the caller judges) nor before the source started measuring — before
    that nothing was measured, and a rate over that time is no rate (7 requests "over" 5 s of a
    window a probe ran 0.3 s of would read as 1.4/s)."""
    start = now - window_s
    for bound in (since, started_at):
        if bound is not None:
            start = max(start, bound)
    return start
