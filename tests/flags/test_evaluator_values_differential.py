"""Each constraint operator, on many spellings of values, against the Unleash SDKs' engine.

Where the random flag sets of test_evaluator_differential.py sample a few values, these tables
walk the spellings one by one: lenient context dates, Rust's float syntax, semver edge cases,
IP ranges, case folding, and Rust regex syntax. The reference is Yggdrasil as UnleashClient
6.9.1 ships it (`yggdrasil_engine`), driven directly rather than through a client.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from yggdrasil_engine.engine import UnleashEngine  # type: ignore[import-untyped]

from backout.flags import Evaluator

LIST_OPERATORS = ("IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH")
CONTEXT_DATES = [
    "2022-01-30T13:00:00Z", "2022-01-30T13:00:00.123456789Z", "2022-01-30 13:00:00Z",
    "2022-01-30T13:00:00+02:00", "2022-01-30T13:00:00+0200", "2022-01-30T13:00:00",
    "2022-01-30", "2022-01-30t13:00:00z", "2022-01-30T13:00Z", "2022-01-30T13:00:00 +02:00",
    " 2022-01-30T13:00:00Z", "2022-01-30T13:00:00.Z", "2022-01-29T12:59:60Z", "2022-01-30T24:00:00Z",
    "2022-01-30T13:00:00+02", "+2022-01-30T13:00:00Z", "2022-1-30T13:00:00Z", "2022-01-30T1:00:00Z",
    "2022-01-30T13:00:00UTC", "2022-01-30T13 : 00:00Z", "2021-02-29T00:00:00Z", "0000-01-01T00:00:00Z",
    "2022-01-29T13:00:00.000000001Z", "2022-01-29T15:00:00+02:00", "not a date",
]  # fmt: skip
CONSTRAINT_DATES = [
    "2022-01-29T13:00:00.000Z", "2022-01-29T13:00:00Z", "2022-01-29T13:00:00+02:00",
    "2022-01-29T13:00:00.12Z", "2022-02-29T13:00:00Z", "2022-01-29t13:00:00Z", " 2022-01-29T13:00:00Z",
]  # fmt: skip
NUMBERS = [
    "5", "5.0", "+6", " 6", "inf", "Infinity", "-inf", "NaN", "1e1", ".6e1", "6.", "1_0", "0x10",
    "٦", "6e", "10e-1", "1e400", "", "4.999999999999999999", "5.0000000000000001",
]  # fmt: skip
VERSIONS = [
    "1.0.1", "v1.0.1", "1.0", "1.0.1-beta", "01.0.1", "1.0.1-01", " 1.0.1", "1.0.0-rc.1",
    "2.0.0-x.7.z.92", "1.2.3", "1.2.3-beta.1", "1.2.3-beta.11", "1.2.3-beta.2", "1.2.3-alpha",
    "1.2.3-alpha.beta", "1.2.3-0", "1.2.3--", "18446744073709551616.0.0",
]  # fmt: skip
TEXTS = [
    "alice", "Alice", "ALICE", "x@some-email.com", "x@SOME-EMAIL.COM", "İstanbul", "straße",
    "STRASSE", "ǅ", "", " alice", 'quo"te', "back\\slash",
]  # fmt: skip
PATTERNS = [
    "^abc$", "abc", "^(?i)abc$", "a(?i)bc", "(a(?i)b)c", r"\d", r"\w", "[[:digit:]]+", r"\bcat\b",
    r"a\z", "(?<n>a)", "(?P<n>a)", "(?U)a+", "^$", r"\Aa", "(?x) a b # note", r"\x41", r"\u{41}",
    "[^[:alpha:]]", "[[:^alpha:]]", r"(?-u)\w", "a{2}", "[]a]", r"\<cat", r"cat\>", r"\b{start}c",
    "x$", "(?m)^foo$", "^(?s)a.b$", "(?i)a|b", "a(?i)b|c", "(?i:a)b", r"^\s+$", r"\S", r"\B",
    "(regex", "^(?=a)", r"^(a)\1$", r"\é", "(?i-i)a", "a{,3}", "\\", "(?<a.b>x)", r"\Q", "a**",
]  # fmt: skip
PATTERN_INPUTS = [
    "abc", "ABC", "aBc", "x\nfoo\ny", "a\nb", "abc\n", "xabcx", "12", "٣", "é", "cat", "a cat b",
    "concatenate", "a", "aa", "aaa", "", "Q", "A", "]", "foo", " ", "\x1c", "\u00a0", "ab", "x",
]  # fmt: skip

TABLES: dict[str, tuple[str, list[tuple[Any, ...]], list[str]]] = {
    "dates of the context": ("currentTime", [("DATE_AFTER", "2022-01-29T13:00:00.000Z"), ("DATE_BEFORE", "2022-01-29T13:00:00.000Z")], CONTEXT_DATES),
    "dates of the constraint": ("currentTime", [(op, d) for op in ("DATE_AFTER", "DATE_BEFORE") for d in CONSTRAINT_DATES], ["2022-01-29T13:00:00Z", "2022-01-29T10:00:00Z", "2022-01-30T00:00:00Z"]),
    "numbers": ("score", [(op, "5") for op in ("NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE")] + [("NUM_EQ", "5.0"), ("NUM_LT", "1E400"), ("NUM_GT", "1.2.3")], NUMBERS),
    "versions": ("version", [(op, v) for op in ("SEMVER_EQ", "SEMVER_GT", "SEMVER_LT") for v in ("1.2.3", "1.2.3-beta.2", "1.0.0-alpha", "1.2")], VERSIONS),
    "strings": ("email", [(op, v) for op in LIST_OPERATORS for v in (["alice"], ["ALI", "bo"], ["some-email.com"], ["İ"], ["ss"], [""], ['quo"te'])], TEXTS),
    "strings ignoring case": ("email", [(op, v, {"caseInsensitive": True}) for op in LIST_OPERATORS for v in (["alice"], ["some-email.com"], ["İ"], ["straße"])], TEXTS),
    "regexes": ("userId", [("REGEX", p) for p in PATTERNS], PATTERN_INPUTS),
    "regexes ignoring case": ("userId", [("REGEX", p, {"caseInsensitive": True}) for p in PATTERNS], PATTERN_INPUTS),
    "inverted regexes": ("userId", [("REGEX", p, {"inverted": True}) for p in PATTERNS], PATTERN_INPUTS),
}  # fmt: skip
REFUSED_PATTERNS = {"a**"}  # Rust allows a repetition of a repetition; refused here (documented)


def _constraint(field: str, spec: tuple[Any, ...]) -> dict[str, Any]:
    operator, value, *extra = spec
    constraint: dict[str, Any] = {"contextName": field, "operator": operator}
    constraint["values" if operator in LIST_OPERATORS else "value"] = value
    constraint.update(extra[0] if extra else {})
    return constraint


def _context(field: str, value: str) -> dict[str, Any]:
    if field in ("currentTime", "userId"):
        return {field: value}
    return {"currentTime": "2022-01-01T00:00:00Z", "properties": {field: value}}


@pytest.mark.parametrize("table", list(TABLES))
def test_each_spelling_is_read_as_the_unleash_engine_reads_it(table: str) -> None:
    field, specs, inputs = TABLES[table]
    specs = [spec for spec in specs if spec[0] != "REGEX" or spec[1] not in REFUSED_PATTERNS]
    features = [
        {
            "name": f"q{index}",
            "enabled": True,
            "strategies": [{"name": "default", "constraints": [_constraint(field, spec)]}],
        }
        for index, spec in enumerate(specs)
    ]
    payload = {"version": 2, "features": features}
    reference = UnleashEngine()
    reference.take_state(json.dumps(payload))
    evaluator = Evaluator.from_client_features(payload)
    mismatches = [
        (spec, value, evaluator.is_enabled(f"q{index}", _context(field, value)))
        for index, spec in enumerate(specs)
        for value in inputs
        if evaluator.is_enabled(f"q{index}", _context(field, value))
        != reference.check_enabled(f"q{index}", _context(field, value)).is_enabled
    ]
    assert mismatches == []
