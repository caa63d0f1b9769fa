"""backout's flag evaluation against the Unleash SDKs' own engine, on random flag sets.

The reference is Yggdrasil, the engine inside UnleashClient 6.9.1 (`yggdrasil_engine`, the
package UnleashClient itself evaluates with); the test drives it directly, without starting a
client, which gives the same answers faster. Hypothesis draws flag sets (every strategy, every
constraint operator, segments, variants with overrides and stickiness, strategy variants,
dependencies) and contexts, and every flag of every draw must get the same `is_enabled` and
`get_variant` from both.

The draws keep the reference deterministic: every context has a sessionId (the fallback of
default stickiness) and the `tenant` property variants may be sticky on, and random rollouts
are 0% or 100%. They also leave out the documented differences (the backout.flags docstring):
applicationHostname matches no host here, versions carry no build metadata, no weights sum to 0.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yggdrasil_engine.engine import UnleashEngine  # type: ignore[import-untyped]

from backout.flags import Evaluator

FLAG_NAMES = ["f0", "f1", "flag-ø-日本", "f3"]
USER_IDS = ["1", "7", "42", "123", "alice", "bob", "Ünïcødé"]
TENANTS = ["t1", "t2", "acme", "ACME", "globex"]
VERSIONS = [
    "1.2.3",
    "1.2.2",
    "2.0.0",
    "1.2.3-beta.1",
    "1.2.3-beta.11",
    "1.2.3-alpha",
    "1.2",
    "v1.2.3",
    "x",
]
SCORES = ["12", "12.0", "0", "-3.5", "1e3", "13", "inf", "nan", ".5", "abc", "+7"]
TIMES = [
    "2022-01-25T13:00:00.000Z",
    "2022-01-30T13:00:00Z",
    "2022-01-22T11:30:00.000Z",
    "2022-01-29T13:00:00.000Z",
    "2022-01-30T13:00:00+02:00",
    "2024-06-01 10:00:00Z",
    "2022-01-29T13:00:00.000000001Z",
    "2022-01-29T13:00:00",
    "not a date",
]
ADDRESSES = [
    "127.0.0.1",
    "192.168.0.5",
    "10.1.2.3",
    "::1",
    "2001:db8::7",
    "::ffff:10.1.2.3",
    "nope",
]

FIELDS = ["userId", "sessionId", "environment", "appName", "remoteAddress", "currentTime"]
PROPERTY_FIELDS = ["tenant", "version", "score", "email", "missingField"]
TEXTS = (
    USER_IDS + TENANTS + ["dev", "prod", "web", "a", "ce", "@x.com", "PRO", 'quo"te', "back\\slash"]
)
NUMBERS = ["12", "0", "-3.5", "1e3", "+5", "12.0", " 7", "abc", "1.2.3", "2022-01-29T13:00:00Z"]
DATES = [
    "2022-01-29T13:00:00.000Z",
    "2022-01-22T13:00:00.000+02:00",
    "2023-01-01T00:00:00Z",
    "2022-13-01T00:00:00Z",
    "12",
    "garbage",
]
SEMVERS = ["1.2.3", "1.2.3-beta.2", "2.0.0", "1.0.0-alpha", "v1.2.3", "1.2", "01.2.3", " 1.2.3"]
REGEXES = [
    "^a",
    "ce$",
    "^[[:alpha:]]+$",
    r"\d+",
    "^(?i)ALICE$",
    "(regex",
    "^(?=a)",
    "a(?i)l|B",
    r"^t\d$",
    ".*",
    "^$",
    r"\bacme\b",
    "[[:^digit:]]",
    "^(?:t1|t2)$",
]
ORDINAL_VALUES = {"NUM": NUMBERS, "DATE": DATES, "SEMVER": SEMVERS}
OPERATORS = [
    "IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH",
    "NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE",
    "DATE_AFTER", "DATE_BEFORE", "SEMVER_EQ", "SEMVER_GT", "SEMVER_GTE", "SEMVER_LT",
    "SEMVER_LTE", "IN_CIDR", "REGEX", "NOT_AN_OPERATOR",
]  # fmt: skip
CIDRS = [
    "10.0.0.0/8",
    "10.1.2.3",
    "192.168.0.0/16",
    "::1",
    "2001:db8::/32",
    "not-an-ip",
    "300.1.1.1",
]


@st.composite
def constraints(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(st.sampled_from(OPERATORS))
    constraint: dict[str, Any] = {
        "contextName": draw(st.sampled_from(FIELDS + PROPERTY_FIELDS)),
        "operator": operator,
        "inverted": draw(st.booleans()),
        "caseInsensitive": draw(st.booleans()),
    }
    kind = operator.split("_")[0]
    if kind in ORDINAL_VALUES:
        constraint["value"] = draw(st.sampled_from(ORDINAL_VALUES[kind]))
    elif operator == "REGEX":
        constraint["value"] = draw(st.sampled_from(REGEXES))
    elif operator == "IN_CIDR":
        constraint["values"] = draw(st.lists(st.sampled_from(CIDRS), max_size=3))
    else:
        constraint["values"] = draw(st.lists(st.sampled_from(TEXTS), max_size=3))
        if operator.startswith("STR_") and not constraint["values"] and draw(st.booleans()):
            constraint["values"] = ["a"]
    return constraint


@st.composite
def variant_lists(draw: st.DrawFn, *, overrides: bool) -> list[dict[str, Any]]:
    names = draw(
        st.lists(
            st.sampled_from(["red", "blue", "green", "disabled"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    stickiness = draw(st.sampled_from([None, "default", "sessionId", "tenant"]))
    variants = []
    for name in names:
        variant: dict[str, Any] = {
            "name": name,
            "weight": draw(st.integers(1, 100)),
            "weightType": "variable",
        }
        if stickiness is not None:
            variant["stickiness"] = stickiness
        if draw(st.booleans()):
            variant["payload"] = {
                "type": draw(st.sampled_from(["string", "json", "number"])),
                "value": f"{name}-payload",
            }
        if overrides and draw(st.integers(0, 3)) == 0:
            field = draw(st.sampled_from(["userId", "tenant", "environment"]))
            pool = {"userId": USER_IDS, "tenant": TENANTS, "environment": ["dev", "prod"]}[field]
            variant["overrides"] = [
                {"contextName": field, "values": draw(st.lists(st.sampled_from(pool), max_size=2))}
            ]
        variants.append(variant)
    return variants


def _rollout_parameters(draw: st.DrawFn) -> dict[str, str]:
    stickiness = draw(
        st.sampled_from(
            [None, "default", "userId", "sessionId", "tenant", "missingField", "random"]
        )
    )
    choices = (
        ["0", "100"]
        if stickiness == "random"
        else ["0", "1", "25", "50", "99", "100", "101", "+50", "x"]
    )
    parameters = {"rollout": draw(st.sampled_from(choices))}
    if stickiness is not None:
        parameters["stickiness"] = stickiness
    group = draw(st.sampled_from([None, "g1", "AB12A", 'a"b']))
    if group is not None:
        parameters["groupId"] = group
    return parameters


@st.composite
def strategies_(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(
        st.sampled_from(
            ["default", "userWithId", "gradualRolloutUserId", "gradualRolloutSessionId", "gradualRolloutRandom",
             "flexibleRollout", "remoteAddress", "applicationHostname", "myCustomStrategy"]
        )
    )  # fmt: skip
    parameters: dict[str, str] = {}
    if name == "userWithId":
        parameters["userIds"] = ", ".join(draw(st.lists(st.sampled_from(USER_IDS), max_size=3)))
    elif name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        parameters["percentage"] = draw(st.sampled_from(["0", "10", "50", "100", "abc", "150"]))
        parameters["groupId"] = draw(st.sampled_from(["g1", "AB12A"]))
    elif name == "gradualRolloutRandom":
        parameters["percentage"] = draw(st.sampled_from(["0", "100"]))
    elif name == "flexibleRollout":
        parameters = _rollout_parameters(draw)
    elif name == "remoteAddress":
        parameters["IPs"] = draw(
            st.sampled_from(
                [
                    "127.0.0.1",
                    "192.168.0.0/24",
                    "10.0.0.0/8, ::1",
                    "2001:db8::/32",
                    "192.invalid, 10.1.2.3",
                ]
            )
        )
    elif name == "applicationHostname":
        parameters["hostNames"] = draw(st.sampled_from(["foo, bar", "no-such-host.example"]))
    strategy: dict[str, Any] = {"name": name, "parameters": parameters}
    strategy["constraints"] = draw(st.lists(constraints(), max_size=3))
    segment_ids = draw(st.lists(st.sampled_from([1, 2, 2, 99]), max_size=2, unique=True))
    if segment_ids:
        strategy["segments"] = segment_ids
    if parameters.get("stickiness") != "random" and draw(st.integers(0, 2)) == 0:
        strategy["variants"] = draw(st.one_of(st.just([]), variant_lists(overrides=False)))
    return strategy


@st.composite
def flag_sets(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, len(FLAG_NAMES)))
    features = []
    for index, name in enumerate(FLAG_NAMES[:count]):
        feature: dict[str, Any] = {
            "name": name,
            "type": "release",
            "enabled": draw(st.integers(0, 4)) > 0,
            "impressionData": draw(st.booleans()),
            "strategies": draw(st.lists(strategies_(), max_size=3)),
        }
        if draw(st.booleans()):
            feature["variants"] = draw(variant_lists(overrides=True))
        if index > 0 and draw(st.booleans()):
            feature["dependencies"] = [_dependency(draw, [*FLAG_NAMES[:index], "no-such-flag"])]
        features.append(feature)
    segments = [
        {"id": segment_id, "constraints": draw(st.lists(constraints(), max_size=2))}
        for segment_id in (1, 2)
    ]
    return {"version": 2, "features": features, "segments": segments}


def _dependency(draw: st.DrawFn, parents: list[str]) -> dict[str, Any]:
    dependency: dict[str, Any] = {"feature": draw(st.sampled_from(parents))}
    expected = draw(st.sampled_from([None, True, False]))
    if expected is not None:
        dependency["enabled"] = expected
    variants = draw(st.sampled_from([None, [], ["red"], ["blue", "green"], ["disabled"]]))
    if variants is not None:
        dependency["variants"] = variants
    return dependency


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    context: dict[str, Any] = {
        "sessionId": draw(st.sampled_from(["s1", "s2", "session-3", "4"])),
        "currentTime": draw(st.sampled_from(TIMES)),
        "properties": {
            "tenant": draw(st.sampled_from(TENANTS)),
            "version": draw(st.sampled_from([*VERSIONS, None])),
            "score": draw(st.sampled_from(SCORES)),
            "email": draw(st.sampled_from(["alice@x.com", "BOB@X.COM", "carol@y.org"])),
        },
    }
    optional = {
        "userId": USER_IDS,
        "environment": ["dev", "prod", "stage"],
        "appName": ["web", "api"],
        "remoteAddress": ADDRESSES,
    }
    for field, pool in optional.items():
        where = draw(st.sampled_from(["top", "top", "properties", "absent"]))
        if where == "top":
            context[field] = draw(st.sampled_from(pool))
        elif where == "properties":  # the engine reads a standard field from there too
            context["properties"][field] = draw(st.sampled_from(pool))
    return context


@pytest.fixture(scope="module")
def reference() -> UnleashEngine:
    return UnleashEngine()


def reference_variant(engine: UnleashEngine, name: str, context: dict[str, Any]) -> dict[str, Any]:
    found = engine.check_variant(name, context).variant
    variant: dict[str, Any] = {
        "name": found.name,
        "enabled": found.enabled,
        "feature_enabled": found.feature_enabled,
    }
    if found.payload is not None:
        variant["payload"] = found.payload
    return variant


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(payload=flag_sets(), asked=st.lists(contexts(), min_size=1, max_size=4))
def test_every_flag_evaluates_as_the_unleash_engine_does(
    reference: UnleashEngine, payload: dict[str, Any], asked: list[dict[str, Any]]
) -> None:
    reference.take_state(json.dumps(payload))
    evaluator = Evaluator.from_client_features(payload, hostname="this-host")
    for context in asked:
        for feature in payload["features"]:
            name = feature["name"]
            expected = reference.check_enabled(name, context).is_enabled
            assert evaluator.is_enabled(name, context) == expected, (name, context, feature)
            assert evaluator.get_variant(name, context) == reference_variant(
                reference, name, context
            ), (
                name,
                context,
                feature,
            )
