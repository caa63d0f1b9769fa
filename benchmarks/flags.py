"""backout's flag evaluation against UnleashClient's, and the kill switch's reach.

- evals_per_s / unleash_client_evals_per_s / eval_ratio: `is_enabled` of every flag of a
  realistic set (FLAG_SET below: 14 flags, 2 segments) for each of CONTEXTS contexts, asked
  of backout's `Evaluator` (compiled once from the payload) and of `UnleashClient` 6.9.1
  bootstrapped with the same payload (offline: no fetch, no metrics, no registration). The
  same calls in the same order; each round runs the whole list as often as fits in about
  0.3 s; best of EVAL_ROUNDS rounds, the contenders taking turns. Also:
  unleash_engine_evals_per_s, the client's engine alone (Yggdrasil, on contexts already shaped
  as the client shapes them), where the client's time goes; evals_per_s_many_contexts,
  backout on 3000 contexts, more distinct addresses than its parse caches hold;
  disagreements / variant_disagreements, the calls whose `is_enabled` / `get_variant` (whole
  dicts) differ between backout and the client.
- kill_switch_*: a real `backout serve --no-watch` on a temporary workspace (SQLite state,
  the flag set as flags.definitions), CLIENTS clients connected, then the real CLI in its own
  process: `backout flags disable KEY`, then `enable`, ROUNDS times each. A client's latency
  is the wall time it first holds the new state minus t0, the `at` of the change's
  flag_changes row in the state DB (the CLI's start-up and exit would dominate otherwise;
  *_from_cli_launch_* counts from launching the command). p50 and p99 are nearest ranks over
  the clients of one change (p99: the 99th of 100); the figures are their medians over the
  disables. Three fleets in turn, on the same server (channels.* has each one's details):
  push: backout's FlagClient(push=True), a thread each, the kill_switch_p50/p99 keys; it
  compiles each payload as it arrives (client_compile_ms each, all sharing one interpreter);
  raw_sse: the same stream read by CLIENTS connections in one asyncio httpx loop, which only
  decode the event: the channel without the client (kill_switch_raw_sse_*);
  poll: FlagClient(push=False, poll_interval=1.0), started at even steps over the second so
  that their polls spread over it (kill_switch_poll_*).
  channels.*.first_ms is the first client of a change: when the server had noticed it.

Prints one JSON object. Ctrl-C or SIGTERM stops the server and every client and removes the
temporary folder.

    python benchmarks/flags.py [--clients 100] [--rounds 5] [--contexts 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from UnleashClient import UnleashClient
from UnleashClient._context import _ContextEnricher
from UnleashClient.cache import FileCache
from UnleashClient.utils import InstanceAllowType
from yggdrasil_engine.engine import UnleashEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _flags_support import KILL_SWITCH_FLAG, measure_kill_switch

from backout.flags import Evaluator

ROUND_S = 0.3
MANY_CONTEXTS = 3000  # more distinct addresses than the evaluator caches (1024)
IsEnabled = Callable[[str, Any], Any]
Calls = list[tuple[str, dict[str, Any]]]


# -- the flag set


# Gradual rollouts sticky on the user or the session, a user list, constraints of most
# operators, two segments, flag and strategy variants with an override, a remote-address
# strategy, a dependency, a flag turned off; as an Unleash export writes them (_payload() adds
# what every feature has by default). Every context has a userId and a sessionId, so that no
# answer depends on a random draw.
FLAG_SET = """
segments:
  - {id: 1, constraints: [{contextName: country, operator: IN, values: [de, fr, it, es, nl, pl]}]}
  - {id: 2, constraints: [{contextName: plan, operator: IN, values: [pro, business, enterprise]}]}
features:
  - name: new-checkout
    strategies: [{name: flexibleRollout, parameters: {rollout: "30", groupId: new-checkout}}]
  - name: search-v2
    strategies:
      - name: flexibleRollout
        parameters: {rollout: "50", stickiness: userId, groupId: search-v2}
        constraints: [{contextName: environment, operator: IN, values: [production, staging]}]
  - name: beta-program
    strategies:
      - {name: userWithId, parameters: {userIds: "u0,u15,u30,u45,u60,u75,u90,u105,u120,u135"}}
      - name: flexibleRollout
        parameters: {rollout: "5", stickiness: userId, groupId: beta}
        constraints: [{contextName: plan, operator: IN, values: [enterprise]}]
  - name: eu-pricing
    strategies:
      - name: default
        segments: [1]
        constraints: [{contextName: plan, operator: NOT_IN, values: [free]}]
  - name: enterprise-dashboard
    strategies:
      - name: default
        constraints:
          - {contextName: email, operator: STR_ENDS_WITH, values: ["@acme.com", "@globex.com"],
             caseInsensitive: true}
          - {contextName: plan, operator: IN, values: [business, enterprise]}
  - name: mobile-redesign
    strategies:
      - name: flexibleRollout
        parameters: {rollout: "60", stickiness: sessionId, groupId: mobile}
        constraints:
          - {contextName: appVersion, operator: SEMVER_GT, value: 2.3.0}
          - {contextName: platform, operator: IN, values: [ios, android]}
  - name: holiday-banner
    strategies:
      - name: default
        constraints:
          - {contextName: currentTime, operator: DATE_AFTER, value: "2024-01-01T00:00:00.000Z"}
          - {contextName: currentTime, operator: DATE_BEFORE, value: "2099-01-01T00:00:00.000Z"}
    variants: [{name: red, weight: 500}, {name: green, weight: 500}]
  - name: free-shipping
    strategies:
      - name: default
        constraints:
          - {contextName: cartValue, operator: NUM_GTE, value: "100"}
          - {contextName: cartValue, operator: NUM_LT, value: "10000"}
  - name: banner-colour
    strategies: [{name: default}]
    variants:
      - {name: blue, weight: 400, stickiness: userId,
         overrides: [{contextName: userId, values: [u3, u4]}]}
      - {name: green, weight: 400, stickiness: userId}
      - {name: orange, weight: 200, stickiness: userId}
  - name: office-network
    strategies:
      - {name: remoteAddress, parameters: {IPs: "10.0.0.0/8, 192.168.1.0/24, 172.16.5.4"}}
  - name: checkout-experiment
    strategies:
      - name: flexibleRollout
        parameters: {rollout: "100", stickiness: userId, groupId: checkout-experiment}
        constraints: [{contextName: country, operator: IN, values: [us, ca]}]
        segments: [2]
        variants:
          - {name: control, weight: 500, stickiness: userId}
          - {name: treatment, weight: 500, stickiness: userId}
  - name: tenant-migration
    strategies:
      - name: flexibleRollout
        parameters: {rollout: "40", groupId: tenant-migration}
        constraints: [{contextName: tenant, operator: REGEX, value: "^(acme|globex)-[0-9]+$"}]
  - {name: legacy-export, enabled: false, strategies: [{name: default}]}
  - name: checkout-upsell
    strategies: [{name: flexibleRollout, parameters: {rollout: "50", groupId: checkout-upsell}}]
    dependencies: [{feature: new-checkout, enabled: true}]
"""


def _payload(text: str) -> dict[str, Any]:
    """The flag set as the client API serves it: each feature, strategy and variant complete."""
    flag_set = yaml.safe_load(text)
    for feature in flag_set["features"]:
        feature.setdefault("enabled", True)
        feature.setdefault("variants", [])
        feature.update(type="release", project="default")
        for strategy in feature["strategies"]:
            strategy.setdefault("parameters", {})
            strategy.setdefault("constraints", [])
            if strategy["name"] == "flexibleRollout":
                strategy["parameters"].setdefault("stickiness", "default")
            for variant in strategy.get("variants", []):
                _complete_variant(variant)
        for variant in feature["variants"]:
            _complete_variant(variant)
    return {"version": 2, **flag_set}


def _complete_variant(variant: dict[str, Any]) -> None:
    variant.setdefault("stickiness", "default")
    variant.update(weightType="variable", payload={"type": "string", "value": variant["name"]})


PAYLOAD = _payload(FLAG_SET)
FEATURES: list[dict[str, Any]] = PAYLOAD["features"]


def contexts(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` contexts of a shop's users, the same for the same seed."""
    draw = random.Random(seed)
    made = []
    for n in range(count):
        address = draw.choice(["10.1.{}.{}", "192.168.1.{1}", "203.0.113.{1}", "172.16.5.4"])
        properties = {
            "country": draw.choice(["de", "fr", "us", "ca", "jp", "br", "pl", "nl"]),
            "plan": draw.choice(["free", "pro", "business", "enterprise"]),
            "email": f"user{n}@" + draw.choice(["acme.com", "GLOBEX.com", "example.org"]),
            "appVersion": draw.choice(["2.2.9", "2.3.0", "2.3.1", "2.10.0", "3.0.0-beta.1"]),
            "platform": draw.choice(["ios", "android", "web"]),
            "cartValue": str(draw.choice([0, 35, 99.5, 100, 250, 12000])),
            "tenant": draw.choice(["acme", "globex", "initech"]) + f"-{draw.randrange(100)}",
        }
        made.append(
            {
                "userId": f"u{n}",
                "sessionId": f"s{draw.randrange(10**9)}",
                "environment": draw.choice(["production", "staging", "development"]),
                "appName": "shop",
                "remoteAddress": address.format(draw.randrange(256), draw.randrange(1, 255)),
                "properties": properties,
            }
        )
    return made


def served_definitions() -> dict[str, Any]:
    """The flag set as `flags.definitions` (the builtin provider serves no segments, so the
    flags that use them or depend on another are left out), and the kill-switch flag."""
    definitions: dict[str, Any] = {KILL_SWITCH_FLAG: {"description": "the one the bench kills"}}
    for feature in FEATURES:
        uses_more = feature.get("dependencies") or any(
            strategy.get("segments") for strategy in feature["strategies"]
        )
        if not uses_more:
            definitions[feature["name"]] = {
                key: feature[key] for key in ("enabled", "strategies", "variants")
            }
    return definitions


# -- evaluation


@contextlib.contextmanager
def unleash_client(folder: Path) -> Iterator[UnleashClient]:
    """An UnleashClient holding PAYLOAD, as bootstrapped apps start, without a server."""
    cache = FileCache("flags-bench", directory=str(folder))
    cache.bootstrap_from_dict(PAYLOAD)
    client = UnleashClient(
        url="http://127.0.0.1:9/api",  # never asked: no fetch, no metrics, no registration
        app_name="shop",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client(fetch_toggles=False)
    try:
        yield client
    finally:
        client.destroy()


def engine_alone(client: UnleashClient, calls: Calls) -> tuple[IsEnabled, Calls]:
    """Yggdrasil with PAYLOAD, and the calls with contexts shaped as the client shapes them."""
    engine = UnleashEngine()
    engine.take_state(json.dumps(PAYLOAD))
    enricher = _ContextEnricher(client._config)
    return engine.is_enabled, [(name, enricher.build(context)) for name, context in calls]


def seconds_for(is_enabled: IsEnabled, calls: Calls, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for name, context in calls:
            is_enabled(name, context)
    return time.perf_counter() - started


def best_rates(contenders: dict[str, tuple[IsEnabled, Calls]], rounds: int) -> dict[str, float]:
    """Calls per second of each contender, best of `rounds` rounds taken in turns."""
    repeats = {
        name: max(1, math.ceil(ROUND_S / seconds_for(is_enabled, calls, 1)))
        for name, (is_enabled, calls) in contenders.items()
    }
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, (is_enabled, calls) in contenders.items():
            seconds = seconds_for(is_enabled, calls, repeats[name])
            best[name] = max(best[name], len(calls) * repeats[name] / seconds)
    return best


def disagreements(evaluator: Evaluator, client: UnleashClient, calls: Calls) -> dict[str, int]:
    enabled = sum(evaluator.is_enabled(*call) != client.is_enabled(*call) for call in calls)
    variants = sum(evaluator.get_variant(*call) != client.get_variant(*call) for call in calls)
    return {"is_enabled": enabled, "get_variant": variants}


def measure_evaluation(folder: Path, context_count: int, rounds: int) -> dict[str, Any]:
    names = [feature["name"] for feature in PAYLOAD["features"]]
    calls = [(name, context) for context in contexts(context_count) for name in names]
    many_calls = [(name, context) for context in contexts(MANY_CONTEXTS) for name in names]
    evaluator = Evaluator.from_client_features(PAYLOAD)
    with unleash_client(folder) as client:
        rates = best_rates(
            {
                "backout": (evaluator.is_enabled, calls),
                "backout_many": (evaluator.is_enabled, many_calls),
                "client": (client.is_enabled, calls),
                "engine": engine_alone(client, calls),
            },
            rounds,
        )
        differ = disagreements(evaluator, client, calls)
    return {
        "evals_per_s": round(rates["backout"]),
        "unleash_client_evals_per_s": round(rates["client"]),
        "eval_ratio": round(rates["backout"] / rates["client"], 2),
        "unleash_engine_evals_per_s": round(rates["engine"]),
        "evals_per_s_many_contexts": round(rates["backout_many"]),
        "many_contexts": MANY_CONTEXTS,
        "disagreements": differ["is_enabled"],
        "variant_disagreements": differ["get_variant"],
        "eval_flags": len(names),
        "eval_contexts": context_count,
        "eval_rounds": rounds,
    }


def main() -> None:
    try:
        run()
    except KeyboardInterrupt:  # the server, the clients and the folder are gone by now
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100, help="clients per fleet")
    parser.add_argument("--rounds", type=int, default=5, help="disables (and enables) per fleet")
    parser.add_argument("--contexts", type=int, default=300, help="contexts evaluated")
    parser.add_argument("--eval-rounds", type=int, default=5, help="evaluation rounds")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup runs
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="backout-flags-bench-") as tmp:
        folder = Path(tmp)
        evaluation = measure_evaluation(folder, args.contexts, args.eval_rounds)
        kill_switch = measure_kill_switch(folder, served_definitions(), args.clients, args.rounds)
    channels = kill_switch["channels"]
    push, raw, poll = channels["push"], channels["raw_sse"], channels["poll"]
    result = {
        **evaluation,
        "kill_switch_p50_ms": push["p50_ms"],
        "kill_switch_p99_ms": push["p99_ms"],
        "kill_switch_from_cli_launch_p99_ms": push["from_cli_launch_p99_ms"],
        "kill_switch_raw_sse_p50_ms": raw["p50_ms"],
        "kill_switch_raw_sse_p99_ms": raw["p99_ms"],
        "kill_switch_poll_p50_ms": poll["p50_ms"],
        "kill_switch_poll_p99_ms": poll["p99_ms"],
        "clients": args.clients,
        "rounds": args.rounds,
        "missed": push["missed"] + raw["missed"] + poll["missed"],
        "client_compile_ms": kill_switch["client_compile_ms"],
        "channels": channels,
        "total_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
