"""The flag provider contract (backout/flags/base.py), one suite run against every provider:
`builtin` (backout's store), `fake` (a JSON file) and `unleash` (a real Unleash 7 server, driven
through its admin API). Each provider is built by a Runtime from a backout.yaml, as the CLI
builds it, and holds the same three flags:

    waitlist      on, for 30 % of users (a gradual rollout)
    new-checkout  on for everyone (the `default` strategy)
    dark-mode     off, no strategy

What the SDKs are served is read through `client_features()` and evaluated with backout's
Evaluator. The Unleash client API trails a change by up to a second, so `served` polls.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backout.config import FlagDefinition
from backout.errors import NotFoundError
from backout.flags import Evaluator, FlagProvider
from backout.flags.base import GRADUAL_ROLLOUT
from backout.runtime import Runtime
from tests.flags.unleash_server import SDK_ENVIRONMENT, UnleashServer

TOKEN_ENV = "BACKOUT_TEST_UNLEASH_TOKEN"
SERVED_WITHIN_S = 10.0  # Unleash's lag is a second; more when the machine is busy
USERS = [{"userId": str(n)} for n in range(1000)]
SEEDED = {
    "waitlist": FlagDefinition(description="Queue for full courts", rollout=30),
    "new-checkout": FlagDefinition(
        description="One-page checkout",
        strategies=[{"name": "default", "parameters": {}, "constraints": []}],
    ),
    "dark-mode": FlagDefinition(description="Dark theme", enabled=False),
}


def write_config(folder: Path, provider: dict[str, Any], *, definitions: bool) -> Path:
    data: dict[str, Any] = {
        "project": "flag-contract",
        "environment": SDK_ENVIRONMENT,
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "flags": {"provider": provider},
    }
    if definitions:
        data["flags"]["definitions"] = {
            key: definition.model_dump(exclude_defaults=True) for key, definition in SEEDED.items()
        }
    path = folder / "backout.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(params=["builtin", "fake", "unleash"])
def provider(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlagProvider]:
    """The provider a Runtime builds from `flags.provider`, holding the SEEDED flags."""
    for name in [k for k in os.environ if k.startswith("BACKOUT_")]:
        monkeypatch.delenv(name)
    settings: dict[str, Any] = {"type": request.param}
    if request.param == "unleash":
        server: UnleashServer = request.getfixturevalue("unleash_server")
        server.seed(SEEDED)
        settings |= {"url": server.url, "token_env": TOKEN_ENV}
        monkeypatch.setenv(TOKEN_ENV, server.admin_token)
    config = write_config(tmp_path, settings, definitions=request.param != "unleash")
    runtime = Runtime.open(config)
    try:
        yield runtime.flags()
    finally:
        runtime.close()


def served(provider: FlagProvider, key: str, **expected: Any) -> Evaluator:
    """The payload `client_features()` serves, compiled, once flag `key` is served with the
    `expected` fields (enabled, stale, rollout); fails when it is not within SERVED_WITHIN_S."""
    return served_all(provider, {key: expected})


def served_all(provider: FlagProvider, expected: dict[str, dict[str, Any]]) -> Evaluator:
    """served(), for several flags at once: all as expected in one payload (an Unleash server
    serves its client API up to a second behind its admin API)."""
    deadline = time.monotonic() + SERVED_WITHIN_S
    while True:
        payload = provider.client_features()
        features = {f["name"]: _served_fields(f) for f in payload["features"]}
        if all(
            key in features and all(features[key][name] == v for name, v in fields.items())
            for key, fields in expected.items()
        ):
            return Evaluator.from_client_features(payload)
        if time.monotonic() > deadline:
            pytest.fail(f"not served with {expected} within {SERVED_WITHIN_S}s: {features}")
        time.sleep(0.05)


def _served_fields(feature: dict[str, Any]) -> dict[str, Any]:
    rollouts = [
        int(s["parameters"]["rollout"])
        for s in feature["strategies"]
        if s["name"] == GRADUAL_ROLLOUT
    ]
    return {
        "enabled": feature["enabled"],
        "stale": feature.get("stale", False),
        "rollout": rollouts[0] if rollouts else None,
    }


def share(evaluator: Evaluator, key: str) -> float:
    """The share of USERS who get flag `key`."""
    return sum(evaluator.is_enabled(key, user) for user in USERS) / len(USERS)


def test_every_flag_is_listed_sorted_by_key(provider: FlagProvider) -> None:
    listed = provider.flags()

    assert [flag.key for flag in listed] == ["dark-mode", "new-checkout", "waitlist"]
    assert [(f.enabled, f.rollout, f.to_remove) for f in listed] == [
        (False, None, False),
        (True, None, False),
        (True, 30, False),
    ]
    assert [flag.description for flag in listed] == [
        "Dark theme",
        "One-page checkout",
        "Queue for full courts",
    ]


def test_one_flag_is_read_by_its_key_as_the_listing_shows_it(provider: FlagProvider) -> None:
    assert provider.flag("waitlist") == next(f for f in provider.flags() if f.key == "waitlist")


def test_an_unknown_key_is_not_found_and_the_known_ones_are_named(provider: FlagProvider) -> None:
    with pytest.raises(NotFoundError) as raised:
        provider.flag("wait-list")

    assert "'wait-list'" in raised.value.message
    assert raised.value.hint is not None
    assert "dark-mode, new-checkout, waitlist" in raised.value.hint


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.set_enabled("wait-list", False),
        lambda p: p.set_rollout("wait-list", 10),
        lambda p: p.mark_to_remove("wait-list"),
    ],
    ids=["set_enabled", "set_rollout", "mark_to_remove"],
)
def test_changing_an_unknown_flag_is_not_found(
    provider: FlagProvider, change: Callable[[FlagProvider], Any]
) -> None:
    with pytest.raises(NotFoundError, match="wait-list"):
        change(provider)
    assert [flag.key for flag in provider.flags()] == ["dark-mode", "new-checkout", "waitlist"]


def test_the_kill_switch_turns_a_flag_off_for_everyone(provider: FlagProvider) -> None:
    off = provider.set_enabled("waitlist", False)

    assert (off.enabled, off.rollout) == (False, 30)
    assert provider.flag("waitlist") == off
    assert share(served(provider, "waitlist", enabled=False), "waitlist") == 0.0


def test_pressing_the_kill_switch_twice_changes_nothing_and_is_no_error(
    provider: FlagProvider,
) -> None:
    first = provider.set_enabled("waitlist", False)
    second = provider.set_enabled("waitlist", False)

    assert second == first == provider.flag("waitlist")


def test_a_flag_turned_on_again_comes_back_with_its_rollout(provider: FlagProvider) -> None:
    provider.set_enabled("waitlist", False)
    served(provider, "waitlist", enabled=False)

    on = provider.set_enabled("waitlist", True)

    assert (on.enabled, on.rollout) == (True, 30)
    assert provider.flag("waitlist") == on
    assert 0.25 < share(served(provider, "waitlist", enabled=True), "waitlist") < 0.35


def test_turning_on_a_flag_that_is_on_changes_nothing(provider: FlagProvider) -> None:
    before = provider.flag("new-checkout")

    assert provider.set_enabled("new-checkout", True) == before == provider.flag("new-checkout")


def test_a_rollout_sets_the_percent_of_the_gradual_rollout(provider: FlagProvider) -> None:
    before = provider.flag("waitlist")

    widened = provider.set_rollout("waitlist", 60)

    assert (widened.enabled, widened.rollout) == (True, 60)
    assert len(widened.strategies) == len(before.strategies)
    assert provider.flag("waitlist") == widened
    assert 0.55 < share(served(provider, "waitlist", rollout=60), "waitlist") < 0.65


def test_setting_the_same_rollout_again_changes_nothing(provider: FlagProvider) -> None:
    first = provider.set_rollout("waitlist", 60)

    assert provider.set_rollout("waitlist", 60) == first == provider.flag("waitlist")


def test_a_rollout_adds_a_sticky_gradual_rollout_to_a_flag_without_one(
    provider: FlagProvider,
) -> None:
    rolled = provider.set_rollout("dark-mode", 40)

    assert (rolled.enabled, rolled.rollout) == (False, 40)
    [added] = [s for s in rolled.strategies if s["name"] == GRADUAL_ROLLOUT]
    assert added["parameters"] == {"rollout": "40", "stickiness": "default", "groupId": "dark-mode"}
    assert provider.flag("dark-mode") == rolled
    provider.set_enabled("dark-mode", True)
    assert 0.35 < share(served(provider, "dark-mode", enabled=True, rollout=40), "dark-mode") < 0.45


def test_a_flag_is_marked_to_remove_and_served_as_stale(provider: FlagProvider) -> None:
    marked = provider.mark_to_remove("new-checkout")

    assert (marked.to_remove, marked.enabled) == (True, True)
    assert provider.flag("new-checkout") == marked
    assert provider.mark_to_remove("new-checkout") == marked
    assert share(served(provider, "new-checkout", stale=True), "new-checkout") == 1.0


def test_the_served_payload_evaluates_as_the_flags_say(provider: FlagProvider) -> None:
    evaluator = served_all(
        provider,
        {
            "waitlist": {"enabled": True, "rollout": 30},
            "dark-mode": {"enabled": False},
            "new-checkout": {"enabled": True},
        },
    )

    assert share(evaluator, "new-checkout") == 1.0
    assert share(evaluator, "dark-mode") == 0.0
    assert 0.25 < share(evaluator, "waitlist") < 0.35
    assert share(evaluator, "no-such-flag") == 0.0


def test_the_cli_kill_switch_on_an_unleash_flag_reaches_the_sdks(
    unleash_server: UnleashServer, tmp_path: Path
) -> None:
    """`backout flags disable` with flags.provider `unleash`: Unleash's own client API, asked
    with an SDK's backend token, then serves the flag off."""
    unleash_server.seed(SEEDED)
    seeded = unleash_server.last_event_id()
    provider = {"type": "unleash", "url": unleash_server.url, "token_env": TOKEN_ENV}
    config = write_config(tmp_path, provider, definitions=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
    env |= {TOKEN_ENV: unleash_server.admin_token, "BACKOUT_ACTOR": "oncall@test"}

    backout = Path(sys.executable).with_name("backout")
    done = subprocess.run(
        [backout, "flags", "disable", "waitlist", "--reason", "answers 500", "--config", config],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done
    assert "flag waitlist: on (30 %) → off" in done.stdout
    deadline = time.monotonic() + SERVED_WITHIN_S
    while _sdk_sees(unleash_server, "waitlist") is not False:
        assert time.monotonic() < deadline, unleash_server.served_to_sdks()
        time.sleep(0.05)
    payload = unleash_server.served_to_sdks()
    assert share(Evaluator.from_client_features(payload), "waitlist") == 0.0
    assert unleash_server.event_types("waitlist", after=seeded) == ["feature-environment-disabled"]


def _sdk_sees(server: UnleashServer, key: str) -> bool | None:
    features = server.served_to_sdks()["features"]
    return next((bool(f["enabled"]) for f in features if f["name"] == key), None)
