"""Notifications through Apprise: the outbox (queued with the event that causes them), the
deliverer (sends after commit, retries, records the outcome), contacts and approval escalation.
See docs/notifications.md."""
