"""Activation strategies, compiled to predicates over a context.

The built-in strategies of the Unleash specification: default, userWithId, gradualRolloutUserId,
gradualRolloutSessionId, gradualRolloutRandom, flexibleRollout, remoteAddress and
applicationHostname. A strategy's own constraints and those of its segments must all hold too.
A strategy this engine does not know (a custom one) is never satisfied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mmh3

from backout.flags.evaluation.constraints import Predicate, always, compile_constraints, never
from backout.flags.evaluation.eval_context import CONSTRAINT_FIELDS, Context, Getter, field_getter
from backout.flags.evaluation.hashing import random_bucket
from backout.flags.evaluation.networks import parse_address, parse_network
from backout.flags.evaluation.parsing import (
    UnparseableRuleError,
    parse_usize,
    quoted_value,
    rule_string,
)

Segments = Mapping[int, Sequence[Mapping[str, Any]]]
_murmur3 = mmh3.hash
_DEFAULT_STICKINESS = ("userId", "sessionId", "random")


@dataclass(frozen=True)
class CompiledStrategy:
    """A strategy ready to evaluate, with what its own variants (if it has any) need."""

    holds: Predicate
    variants: Sequence[Mapping[str, Any]] | None  # None: the strategy has no `variants` key
    variant_stickiness: str
    variant_group: str


def compile_strategy(
    strategy: Mapping[str, Any], flag_name: str, segments: Segments, hostname: str
) -> CompiledStrategy:
    """Compile one strategy; raises UnparseableRuleError where the reference engine cannot."""
    parameters: Mapping[str, Any] = strategy.get("parameters") or {}
    variants = strategy.get("variants")
    stickiness = parameters.get("stickiness") or "default"
    group = parameters.get("groupId")
    return CompiledStrategy(
        holds=_strategy_predicate(strategy, parameters, flag_name, segments, hostname),
        variants=variants,
        variant_stickiness=str(stickiness),
        variant_group=flag_name if group is None else str(group),
    )


def _strategy_predicate(
    strategy: Mapping[str, Any],
    parameters: Mapping[str, Any],
    flag_name: str,
    segments: Segments,
    hostname: str,
) -> Predicate:
    segment_ids = strategy.get("segments") or []
    missing = [segment_id for segment_id in segment_ids if segment_id not in segments]
    if missing:  # the reference engine turns the whole flag off, not only this strategy
        raise UnparseableRuleError(f"segments {missing} are not in the payload")
    base = _base_predicate(str(strategy.get("name", "")), parameters, flag_name, hostname)
    constraints = list(strategy.get("constraints") or [])
    for segment_id in segment_ids:
        constraints.extend(segments[segment_id])
    constrained = compile_constraints(constraints)
    if constrained is None or base is never:
        return base
    if base is always:
        return constrained
    return lambda context: base(context) and constrained(context)


def _base_predicate(
    name: str, parameters: Mapping[str, Any], flag_name: str, hostname: str
) -> Predicate:
    if name == "default":
        return always
    if name == "applicationHostname":
        return _application_hostname(parameters.get("hostNames") or "", hostname)
    build = _BUILDERS.get(name)
    return never if build is None else build(parameters, flag_name)


def _gradual_rollout(field: str) -> Callable[[Mapping[str, Any], str], Predicate]:
    """gradualRolloutUserId / gradualRolloutSessionId: a rollout sticky on one field."""

    def build(parameters: Mapping[str, Any], _flag_name: str) -> Predicate:
        percentage = parse_usize(parameters.get("percentage"))
        group = parameters.get("groupId")
        if percentage is None or group is None:
            return never
        return _rollout(percentage, (field,), rule_string(str(group)))

    return build


def _user_with_id(parameters: Mapping[str, Any], _flag_name: str) -> Predicate:
    user_ids = parameters.get("userIds")
    if user_ids is None:
        return never
    accepted = frozenset(quoted_value(user_id.strip()) for user_id in str(user_ids).split(","))
    get = field_getter("userId", CONSTRAINT_FIELDS)
    return lambda context: get(context) in accepted


def _flexible_rollout(parameters: Mapping[str, Any], flag_name: str) -> Predicate:
    percentage = parse_usize(parameters.get("rollout"))
    if percentage is None:
        return never
    stickiness = parameters.get("stickiness")
    if stickiness is None or stickiness == "default":
        fields: tuple[str, ...] = _DEFAULT_STICKINESS
    elif stickiness in CONSTRAINT_FIELDS or stickiness == "random":
        fields = (stickiness,)
    else:
        fields = (rule_string(str(stickiness)),)
    group = parameters.get("groupId")
    return _rollout(percentage, fields, flag_name if group is None else rule_string(str(group)))


def _rollout(percentage: int, fields: tuple[str, ...], group_id: str) -> Predicate:
    """In the rollout when the first of `fields` the context has hashes to <= percentage."""
    if percentage > 100:
        raise UnparseableRuleError(f"a rollout of {percentage}% is not a percentage")
    if percentage == 0:
        return never
    getters = tuple(
        None if name == "random" else field_getter(name, CONSTRAINT_FIELDS) for name in fields
    )
    prefix = group_id + ":"
    if len(getters) == 1 and getters[0] is not None:
        return _sticky_rollout(getters[0], prefix, percentage)

    def holds(context: Context) -> bool:
        for get in getters:
            if get is None:
                return random_bucket() <= percentage
            value = get(context)
            if value is not None:
                return percentage == 100 or _murmur3(prefix + value, 0, False) % 100 < percentage
        return False

    return holds


def _sticky_rollout(get: Getter, prefix: str, percentage: int) -> Predicate:
    if percentage == 100:
        return lambda context: get(context) is not None

    def holds(context: Context) -> bool:
        value = get(context)
        return value is not None and _murmur3(prefix + value, 0, False) % 100 < percentage

    return holds


def _random_rollout(parameters: Mapping[str, Any], _flag_name: str) -> Predicate:
    percentage = parse_usize(parameters.get("percentage"))
    if percentage is None or percentage == 0:
        return never
    if percentage >= 100:
        return always
    return lambda _context: random_bucket() <= percentage


def _remote_address(parameters: Mapping[str, Any], _flag_name: str) -> Predicate:
    ips = parameters.get("IPs")
    if ips is None:
        return never
    networks = [
        network
        for entry in str(ips).split(",")
        if (network := parse_network(rule_string(entry.strip()))) is not None
    ]

    get = field_getter("remoteAddress", CONSTRAINT_FIELDS)

    def holds(context: Context) -> bool:
        address = parse_address(get(context))
        return address is not None and any(address in network for network in networks)

    return holds


def _application_hostname(host_names: Any, hostname: str) -> Predicate:
    accepted = {rule_string(name.strip()).lower() for name in str(host_names).split(",")}
    return always if hostname.lower() in accepted else never


_BUILDERS: dict[str, Callable[[Mapping[str, Any], str], Predicate]] = {
    "userWithId": _user_with_id,
    "gradualRolloutUserId": _gradual_rollout("userId"),
    "gradualRolloutSessionId": _gradual_rollout("sessionId"),
    "gradualRolloutRandom": _random_rollout,
    "flexibleRollout": _flexible_rollout,
    "remoteAddress": _remote_address,
}
