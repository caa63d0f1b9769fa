"""The waitlist behind the feature flag `waitlist`, when the app is given a flag service.

With BADMINTON_FLAGS_URL (backout's Unleash-compatible client API, e.g.
http://127.0.0.1:8080/api) and BADMINTON_FLAGS_TOKEN, each listing asks the flag, evaluated in
the app by backout's FlagClient, which hears of a change by push. Without them, the share of
listings in the rollout is BADMINTON_FAULT_RATE, fixed at start.
"""

from __future__ import annotations

import os
import random
import threading

from backout.flags.client import FlagClient

from .release import WAITLIST_ROLLOUT

FLAG = "waitlist"
_share = random.Random()
_lock = threading.Lock()
_client: FlagClient | None = None


def waitlist_on() -> bool:
    """Whether this listing takes the new waitlist path."""
    client = _flag_client()
    if client is not None:
        return client.is_enabled(FLAG)
    return _share.random() < WAITLIST_ROLLOUT


def _flag_client() -> FlagClient | None:
    """The process's flag client, connected at the first listing; None without a flag service."""
    global _client  # noqa: PLW0603 - one client for the process
    url = os.environ.get("BADMINTON_FLAGS_URL")
    if not url:
        return None
    with _lock:
        if _client is None:
            token = os.environ.get("BADMINTON_FLAGS_TOKEN", "")
            _client = FlagClient(url, token, app_name="badminton")
            _client.start()
        return _client
