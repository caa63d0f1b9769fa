"""Steps shared by the rollback and the deploy plans: stopping traffic to a version, and the end
of a two-slot switch (once the other slot's version has all the traffic, stop traffic to the
replaced one and stop its process)."""

from __future__ import annotations

from backout.plans.base import StepSpec


def drain_step(version: str | None, timeout_s: float) -> StepSpec:
    """No new requests to `version`, those in flight finish, then maintenance; skipped when no
    version was live (None)."""
    return StepSpec(
        "drain",
        f"Stop traffic to {version}" if version else "Stop traffic (nothing else is live)",
        {"version": version, "timeout_s": timeout_s},
    )


def slot_retirement_steps(version: str | None, timeout_s: float) -> list[StepSpec]:
    """Drain `version`, then stop the slot it runs in (skipped too when None)."""
    retire = StepSpec("retire", f"Retire {version}", {"version": version, "timeout_s": timeout_s})
    return [drain_step(version, timeout_s), retire]
