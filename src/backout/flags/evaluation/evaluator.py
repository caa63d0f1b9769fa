"""The flag evaluator: a client-features payload compiled once, then asked per context.

`Evaluator.from_client_features(payload)` reads the response of the Unleash client API
(`{"version": 2, "features": [...], "segments": [...]}`) and compiles every flag into closures:
constraint values parsed, sets built, regexes and versions compiled. `is_enabled` is then a dict
lookup and a few calls, and agrees with the Unleash SDKs (their engine, Yggdrasil) on the
published client specification.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backout.errors import BackoutError, ExitCode
from backout.flags.evaluation.constraints import Predicate, always, never
from backout.flags.evaluation.eval_context import Context
from backout.flags.evaluation.parsing import UnparseableRuleError
from backout.flags.evaluation.strategies import CompiledStrategy, Segments, compile_strategy
from backout.flags.evaluation.variants import (
    Variant,
    VariantPicker,
    compile_variants,
    disabled_variant,
    variant_stickiness,
)


class FlagPayloadError(BackoutError):
    """The client-features payload is not shaped as the Unleash client API serves it."""

    exit_code = ExitCode.INVALID_CONFIG


@dataclass
class _Flag:
    """One compiled flag: whether it is on (dependencies aside), and how it picks a variant."""

    name: str
    holds: Predicate  # `enabled` and the strategies; dependencies are added once all are known
    dependencies: Sequence[Mapping[str, Any]]
    strategy_variants: Sequence[tuple[Predicate, VariantPicker | None]]
    feature_variants: VariantPicker | None

    def variant(self, context: Context) -> Variant | None:
        """The variant the flag gives `context` if it is on.

        The first strategy that holds decides: its own variants if it has some, else the flag's.
        """
        for holds, picker in self.strategy_variants:
            if holds(context):
                if picker is not None:
                    return picker(context)
                break
        return None if self.feature_variants is None else self.feature_variants(context)


class Evaluator:
    """Answers `is_enabled` and `get_variant` for one compiled flag set."""

    def __init__(self, flags: Mapping[str, _Flag], checks: Mapping[str, Predicate]) -> None:
        self._flags = dict(flags)
        self._checks = dict(checks)

    @classmethod
    def from_client_features(
        cls, payload: Mapping[str, Any], *, hostname: str | None = None
    ) -> Evaluator:
        """Compile a client-features payload; `hostname` is for applicationHostname strategies."""
        if not isinstance(payload, Mapping):
            raise FlagPayloadError("a client-features payload is a JSON object")
        segments = _segments(payload.get("segments") or [])
        host = socket.gethostname() if hostname is None else hostname
        flags: dict[str, _Flag] = {}
        for feature in _sequence(payload.get("features") or [], "features"):
            flag = _compile_flag(feature, segments, host)
            flags[flag.name] = flag
        checks = {name: _with_dependencies(flag, flags) for name, flag in flags.items()}
        return cls(flags, checks)

    def is_enabled(self, name: str, context: Mapping[str, Any]) -> bool:
        """Whether flag `name` is on for `context`; an unknown flag is off."""
        check = self._checks.get(name)
        return False if check is None else check(context)

    def get_variant(self, name: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """The variant of flag `name` for `context`, in the Unleash SDKs' shape."""
        check = self._checks.get(name)
        if check is None or not check(context):
            return disabled_variant(feature_enabled=False)
        chosen = self._flags[name].variant(context)
        if chosen is None:
            return disabled_variant(feature_enabled=True)
        variant = dict(chosen)
        if "payload" in variant:
            variant["payload"] = dict(variant["payload"])
        return variant

    def flag_names(self) -> list[str]:
        return list(self._flags)


def _sequence(value: Any, what: str) -> Sequence[Any]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise FlagPayloadError(f"{what} must be a list, got {type(value).__name__}")
    return value


def _segments(raw: Any) -> Segments:
    segments: dict[int, Sequence[Mapping[str, Any]]] = {}
    for segment in _sequence(raw, "segments"):
        if not isinstance(segment, Mapping) or "id" not in segment:
            raise FlagPayloadError("each segment needs an id")
        segments[segment["id"]] = _sequence(segment.get("constraints") or [], "constraints")
    return segments


def _compile_flag(feature: Any, segments: Segments, hostname: str) -> _Flag:
    if not isinstance(feature, Mapping) or not isinstance(feature.get("name"), str):
        raise FlagPayloadError("each feature needs a name")
    name: str = feature["name"]
    try:
        return _compile_named_flag(name, feature, segments, hostname)
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        raise FlagPayloadError(
            f"feature {name!r} is malformed: {error}",
            hint="the payload should be a client-features response of the Unleash client API",
        ) from error


def _compile_named_flag(
    name: str, feature: Mapping[str, Any], segments: Segments, hostname: str
) -> _Flag:
    strategies: list[CompiledStrategy | None] = []
    for strategy in _sequence(feature.get("strategies") or [], "strategies"):
        try:
            strategies.append(compile_strategy(strategy, name, segments, hostname))
        except UnparseableRuleError:
            strategies.append(None)  # the reference engine turns the whole flag off
    variants = _sequence(feature.get("variants") or [], "variants")
    return _Flag(
        name=name,
        holds=_flag_predicate(bool(feature.get("enabled")), strategies),
        dependencies=_sequence(feature.get("dependencies") or [], "dependencies"),
        strategy_variants=_strategy_variants(strategies),
        feature_variants=compile_variants(
            variants, name, variant_stickiness(variants), with_overrides=True
        ),
    )


def _flag_predicate(enabled: bool, strategies: list[CompiledStrategy | None]) -> Predicate:
    if not enabled or None in strategies:
        return never
    checks = tuple(strategy.holds for strategy in strategies if strategy is not None)
    if not checks or always in checks:
        return always
    checks = tuple(check for check in checks if check is not never)
    if not checks:
        return never
    if len(checks) == 1:
        return checks[0]

    def any_holds(context: Context) -> bool:
        # a plain loop: any() over a generator costs more on this hot path
        for check in checks:  # noqa: SIM110
            if check(context):
                return True
        return False

    return any_holds


def _strategy_variants(
    strategies: list[CompiledStrategy | None],
) -> list[tuple[Predicate, VariantPicker | None]]:
    """Every strategy in order, with a picker over its own variants (None when it has none)."""
    if not any(strategy is not None and strategy.variants for strategy in strategies):
        return []
    if None in strategies:
        return []  # an unparseable flag: its own variants, as the reference engine falls back
    return [
        (
            strategy.holds,
            compile_variants(
                strategy.variants or [],
                strategy.variant_group,
                strategy.variant_stickiness,
                with_overrides=False,
            ),
        )
        for strategy in strategies
        if strategy is not None
    ]


def _with_dependencies(flag: _Flag, flags: Mapping[str, _Flag]) -> Predicate:
    """The flag's full check: itself on, and every parent in the state the flag expects."""
    if not flag.dependencies or flag.holds is never:
        return flag.holds
    parents = [_dependency_check(dependency, flags) for dependency in flag.dependencies]
    if never in parents:
        return never
    holds = flag.holds

    def enabled(context: Context) -> bool:
        for parent in parents:
            if not parent(context):
                return False
        return holds(context)

    return enabled


def _dependency_check(dependency: Mapping[str, Any], flags: Mapping[str, _Flag]) -> Predicate:
    parent = flags.get(str(dependency.get("feature")))
    if parent is None or parent.dependencies:
        return never  # a missing parent, or one with parents of its own, is never satisfied
    expected_enabled = dependency.get("enabled")
    expected = True if expected_enabled is None else bool(expected_enabled)
    variants = frozenset(dependency.get("variants") or [])
    parent_holds = parent.holds

    def satisfied(context: Context) -> bool:
        if variants:
            chosen = parent.variant(context)
            if chosen is not None and chosen["name"] not in variants:
                return False
        return parent_holds(context) == expected

    return satisfied
