"""What the flag evaluator promises beyond the published specification cases.

Among them, the documented differences from the reference engine (Yggdrasil in UnleashClient
6.9.1): applicationHostname matches the host, build metadata does not order versions
(semver.org), and variants whose weights sum to 0 give the disabled variant instead of an error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backout.errors import BackoutError
from backout.flags import Evaluator, FlagPayloadError
from backout.flags.evaluation.hashing import VARIANT_SEED, normalized_value
from backout.flags.evaluation.rust_regex import RefusedPatternError, compile_rust_regex


def flag(name: str, strategies: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "enabled": True, "strategies": strategies, **extra}


def constrained(*constraints: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "default", "constraints": list(constraints)}]


def evaluator(*features: dict[str, Any], **options: Any) -> Evaluator:
    return Evaluator.from_client_features({"version": 2, "features": list(features)}, **options)


def test_an_unknown_flag_is_off_and_has_the_disabled_variant() -> None:
    flags = evaluator()
    assert flags.is_enabled("nope", {}) is False
    assert flags.get_variant("nope", {}) == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": False,
    }


def test_buckets_are_murmur3_of_group_and_id_normalised_to_1_to_100() -> None:
    assert normalized_value("122", "AB12A") == 23  # the spec's userId=122 in a 50% rollout
    assert normalized_value("155", "AB12A") == 100
    assert 1 <= normalized_value("anyone", "g", normalizer=3, seed=VARIANT_SEED) <= 3


def test_context_values_that_are_not_strings_are_read_as_their_text() -> None:
    flags = evaluator(flag("f", [{"name": "userWithId", "parameters": {"userIds": "42, 7"}}]))
    assert flags.is_enabled("f", {"userId": 42}) is True
    assert flags.is_enabled("f", {"userId": 43}) is False


def test_a_custom_field_is_found_in_properties_or_at_the_top_level() -> None:
    flags = evaluator(
        flag("f", constrained({"contextName": "tenant", "operator": "IN", "values": ["acme"]}))
    )
    assert flags.is_enabled("f", {"properties": {"tenant": "acme"}}) is True
    assert flags.is_enabled("f", {"tenant": "acme"}) is True
    assert flags.is_enabled("f", {"properties": {"tenant": None}}) is False


def test_a_standard_field_is_also_read_from_properties() -> None:
    flags = evaluator(
        flag("f", constrained({"contextName": "environment", "operator": "IN", "values": ["prod"]}))
    )
    assert flags.is_enabled("f", {"properties": {"environment": "prod"}}) is True
    assert (
        flags.is_enabled("f", {"environment": "dev", "properties": {"environment": "prod"}})
        is False
    )


def test_the_current_time_defaults_to_now_and_may_be_a_datetime() -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    flags = evaluator(
        flag(
            "f",
            constrained(
                {
                    "contextName": "currentTime",
                    "operator": "DATE_AFTER",
                    "value": yesterday[:19] + "Z",
                }
            ),
        )
    )
    assert flags.is_enabled("f", {}) is True
    assert flags.is_enabled("f", {"currentTime": datetime.now(UTC) - timedelta(days=2)}) is False
    assert flags.is_enabled("f", {"currentTime": datetime.now(UTC)}) is True


def test_application_hostname_matches_the_host_case_insensitively() -> None:
    strategies = [{"name": "applicationHostname", "parameters": {"hostNames": "web-1, Web-2"}}]
    assert evaluator(flag("f", strategies), hostname="WEB-2").is_enabled("f", {}) is True
    assert evaluator(flag("f", strategies), hostname="db-1").is_enabled("f", {}) is False


def test_semver_ignores_build_metadata_as_semver_org_says() -> None:
    flags = evaluator(
        flag(
            "f",
            constrained(
                {"contextName": "version", "operator": "SEMVER_EQ", "value": "1.2.3+build.7"}
            ),
        )
    )
    assert flags.is_enabled("f", {"properties": {"version": "1.2.3"}}) is True
    assert flags.is_enabled("f", {"properties": {"version": "1.2.3-rc.1"}}) is False


def test_variants_whose_weights_sum_to_zero_give_the_disabled_variant() -> None:
    flags = evaluator(flag("f", [{"name": "default"}], variants=[{"name": "a", "weight": 0}]))
    assert flags.get_variant("f", {"userId": "1"}) == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": True,
    }


def test_a_constraint_the_reference_engine_cannot_compile_turns_the_whole_flag_off() -> None:
    broken = {
        "name": "default",
        "constraints": [{"contextName": "x", "operator": "NUM_EQ", "value": "twelve"}],
    }
    flags = evaluator(flag("f", [broken, {"name": "default"}]))
    assert flags.is_enabled("f", {"properties": {"x": "12"}}) is False


def test_a_returned_variant_is_the_callers_to_change() -> None:
    flags = evaluator(
        flag(
            "f",
            [{"name": "default"}],
            variants=[{"name": "a", "weight": 1, "payload": {"type": "string", "value": "v"}}],
        )
    )
    first = flags.get_variant("f", {"userId": "1"})
    first["payload"]["value"] = "changed"
    assert flags.get_variant("f", {"userId": "1"})["payload"] == {"type": "string", "value": "v"}


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"features": "nope"},
        {"features": [{"enabled": True}]},
        {"features": [{"name": "f", "strategies": [{"name": "flexibleRollout", "parameters": 3}]}]},
    ],
    ids=[
        "not an object",
        "features not a list",
        "a feature without a name",
        "parameters not an object",
    ],
)
def test_a_malformed_payload_is_refused_with_a_backout_error(payload: Any) -> None:
    with pytest.raises(FlagPayloadError) as refused:
        Evaluator.from_client_features(payload)
    assert isinstance(refused.value, BackoutError)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^abc$", "abc\n", False),  # `$` is the end of the text in Rust
        ("^(?i)abc$", "ABC", True),  # a flag mid-pattern rules until the end of its group
        ("a(?i)b|c", "C", True),  # ... including the branches after it
        ("[[:alpha:]]+$", "abc", True),
        (r"^\s$", "\x1c", False),  # Rust's \s is Unicode White_Space only
        (r"\B", "", True),
    ],
)
def test_rust_regex_syntax_is_translated(pattern: str, text: str, matches: bool) -> None:
    assert (compile_rust_regex(pattern, case_insensitive=False).search(text) is not None) is matches


@pytest.mark.parametrize("pattern", ["(?=a)", r"(a)\1", r"\p{L}", "[a--b]", "(a", "a**"])
def test_rust_regex_syntax_without_a_faithful_translation_is_refused(pattern: str) -> None:
    with pytest.raises(RefusedPatternError):
        compile_rust_regex(pattern, case_insensitive=False)
