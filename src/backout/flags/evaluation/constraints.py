"""Strategy constraints (and segments, which are shared lists of them), compiled to predicates.

Every operator of the Unleash specification: IN, NOT_IN, STR_CONTAINS, STR_STARTS_WITH,
STR_ENDS_WITH (with `caseInsensitive`), NUM_EQ/GT/GTE/LT/LTE, DATE_AFTER/DATE_BEFORE,
SEMVER_EQ/GT/GTE/LT/LTE (precedence per semver.org), IN_CIDR and REGEX, each one `inverted`
on request.
Values are parsed once here, so evaluating a constraint is a lookup and a comparison.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import semver

from backout.flags.evaluation.eval_context import (
    CONSTRAINT_FIELDS,
    CURRENT_TIME,
    Context,
    Getter,
    as_text,
    current_time_value,
    field_getter,
)
from backout.flags.evaluation.networks import parse_address, parse_network
from backout.flags.evaluation.parsing import (
    Instant,
    UnparseableRuleError,
    context_date,
    context_number,
    context_semver,
    datetime_instant,
    now_instant,
    ordinal_value,
    quoted_value,
    rule_string,
)
from backout.flags.evaluation.rust_regex import RefusedPatternError, compile_rust_regex

Predicate = Callable[[Context], bool]
ValueTest = Callable[[str | None], bool]

_EPSILON = sys.float_info.epsilon
_ORDINAL_SYMBOLS = {
    "NUM_EQ": "==",
    "NUM_GT": ">",
    "NUM_GTE": ">=",
    "NUM_LT": "<",
    "NUM_LTE": "<=",
    "DATE_AFTER": ">",
    "DATE_BEFORE": "<",
    "SEMVER_EQ": "==",
    "SEMVER_GT": ">",
    "SEMVER_LT": "<",
    "SEMVER_GTE": ">=",
    "SEMVER_LTE": "<=",
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_STRING_OPERATORS = frozenset({"STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH"})


def never(_: Context) -> bool:
    return False


def always(_: Context) -> bool:
    return True


def compile_constraints(constraints: Sequence[Mapping[str, Any]]) -> Predicate | None:
    """All of `constraints` must hold; None when there are none (nothing to check)."""
    predicates = [compile_constraint(constraint) for constraint in constraints]
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    if never in predicates:
        return never
    checks = tuple(predicates)

    def all_hold(context: Context) -> bool:
        # a plain loop: all() over a generator costs more on this hot path
        for check in checks:  # noqa: SIM110
            if not check(context):
                return False
        return True

    return all_hold


def compile_constraint(constraint: Mapping[str, Any]) -> Predicate:
    """One constraint; raises UnparseableRuleError where the reference engine cannot compile it."""
    name = str(constraint.get("contextName", ""))
    op = constraint.get("operator")
    inverted = bool(constraint.get("inverted", False))
    if name not in CONSTRAINT_FIELDS:
        name = rule_string(name)
    if op in ("IN", "NOT_IN"):
        test = _membership(_values(constraint), negate=op == "NOT_IN")
    elif op in _STRING_OPERATORS:
        test = _string_test(op, _values(constraint), bool(constraint.get("caseInsensitive")))
    elif op in _ORDINAL_SYMBOLS:
        ordinal = _ordinal_predicate(name, op, constraint.get("value"))
        if ordinal is never:
            return never
        return _inverted(ordinal) if inverted else ordinal
    elif op == "IN_CIDR":
        test = _in_cidr(_values(constraint))
    elif op == "REGEX":
        pattern = constraint.get("value")
        pattern = quoted_value(pattern) if isinstance(pattern, str) else ""
        test = _regex_test(pattern, bool(constraint.get("caseInsensitive")))
    else:
        raise UnparseableRuleError(f"unknown operator {op!r}")
    return _on_field(field_getter(name, CONSTRAINT_FIELDS), test, inverted=inverted)


def _values(constraint: Mapping[str, Any]) -> list[str]:
    values = constraint.get("values") or []
    return [quoted_value(value if value.__class__ is str else as_text(value)) for value in values]


def _on_field(get: Getter, test: ValueTest, *, inverted: bool) -> Predicate:
    if inverted:
        return lambda context: not test(get(context))
    return lambda context: test(get(context))


def _inverted(predicate: Predicate) -> Predicate:
    return lambda context: not predicate(context)


def _membership(values: list[str], *, negate: bool) -> ValueTest:
    accepted = frozenset(values)
    if negate:
        return lambda value: value is None or value not in accepted
    return lambda value: value is not None and value in accepted


def _string_test(op: str, values: list[str], ignore_case: bool) -> ValueTest:
    if not values:
        raise UnparseableRuleError(f"{op} needs at least one value")
    if ignore_case:
        values = [value.lower() for value in values]
    fragments = tuple(values)

    def prepare(value: str) -> str:
        return value.lower() if ignore_case else value

    if op == "STR_STARTS_WITH":
        return lambda value: value is not None and prepare(value).startswith(fragments)
    if op == "STR_ENDS_WITH":
        return lambda value: value is not None and prepare(value).endswith(fragments)

    def contains(value: str | None) -> bool:
        if value is None:
            return False
        text = prepare(value)
        return any(fragment in text for fragment in fragments)

    return contains


def _regex_test(pattern: str, ignore_case: bool) -> ValueTest:
    """A REGEX test; a refused pattern matches nothing (and so holds when inverted)."""
    try:
        search = compile_rust_regex(pattern, case_insensitive=ignore_case).search
    except RefusedPatternError:
        return _nothing
    return lambda value: value is not None and search(value) is not None


def _in_cidr(values: list[str]) -> ValueTest:
    """The address in one of the ranges (or equal to one of the addresses); bad entries skipped."""
    networks = [network for value in values if (network := parse_network(value)) is not None]

    def within(value: str | None) -> bool:
        address = None if value is None else parse_address(value)
        return address is not None and any(address in network for network in networks)

    return within


def _nothing(_value: str | None) -> bool:
    return False


def _ordinal_predicate(name: str, op: str, raw: Any) -> Predicate:
    if not isinstance(raw, str):
        raise UnparseableRuleError(f"{op} needs a value")
    if op.startswith("SEMVER_") and raw.startswith("v"):
        return never  # the reference engine rejects "v1.2.3" on purpose
    kind, target = ordinal_value(raw)
    symbol = _ORDINAL_SYMBOLS[op]
    if kind == "date":
        assert isinstance(target, tuple)
        return _date_predicate(name, symbol, target)
    get = field_getter(name, CONSTRAINT_FIELDS)
    if kind == "semver":
        assert isinstance(target, semver.Version)
        return _semver_predicate(get, symbol, target)
    assert isinstance(target, float)
    return _number_predicate(get, symbol, target)


def _number_predicate(get: Getter, symbol: str, target: float) -> Predicate:
    compare = _COMPARISONS[symbol]

    def holds(context: Context) -> bool:
        raw = get(context)
        number = None if raw is None else context_number(raw)
        if number is None:
            return False
        if symbol == "==":
            return abs(number - target) < _EPSILON
        return compare(number, target)

    return holds


def _semver_predicate(get: Getter, symbol: str, target: semver.Version) -> Predicate:
    compare = _COMPARISONS[symbol]

    def holds(context: Context) -> bool:
        raw = get(context)
        version = None if raw is None else context_semver(raw)
        return version is not None and compare(version, target)

    return holds


def _date_predicate(name: str, symbol: str, target: Instant) -> Predicate:
    compare = _COMPARISONS[symbol]
    get = field_getter(name, CONSTRAINT_FIELDS)
    is_current_time = name == CURRENT_TIME

    def holds(context: Context) -> bool:
        raw = current_time_value(context) if is_current_time else get(context)
        if raw is None:
            instant = now_instant() if is_current_time else None
        elif isinstance(raw, datetime):
            instant = datetime_instant(raw)
        else:
            instant = context_date(raw if raw.__class__ is str else as_text(raw))
        return instant is not None and compare(instant, target)

    return holds
