"""What an incident is about: the runbook's rollback triggers, one word each.

A foundation (no imports) because the config names categories (a trigger rule's `category`,
a service's `policies`), the metric sources declare them, and the store records them.
"""

from __future__ import annotations

from enum import StrEnum


class IncidentCategory(StrEnum):
    """The category picks the default policy (data is never rolled back without a person)."""

    ERRORS = "errors"  # the error rate is up
    PERFORMANCE = "performance"  # slower than the last known good
    BUSINESS = "business"  # a business-critical flow is broken
    DATA = "data"  # corruption or loss
    SECURITY = "security"  # a vulnerability in the live release
