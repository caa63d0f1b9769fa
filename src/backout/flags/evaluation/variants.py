"""Variants: which one of a flag's (or of its matching strategy's) variants a context gets.

A context whose field named in an override is listed there gets that variant; any other is
placed by weight, on MurmurHash3 (seed 86028157) of `groupId:stickiness value`, so the same user
keeps the same variant. With nothing to be sticky on, the pick is random, as in the SDKs.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mmh3

from backout.flags.evaluation.eval_context import (
    OVERRIDE_FIELDS,
    STICKINESS_FIELDS,
    Context,
    Getter,
    field_getter,
)
from backout.flags.evaluation.hashing import VARIANT_SEED

Variant = dict[str, Any]
VariantPicker = Callable[[Context], Variant | None]
_murmur3 = mmh3.hash
_random = random.SystemRandom()


def disabled_variant(*, feature_enabled: bool) -> Variant:
    """The variant an SDK reports when there is none to give."""
    return {"name": "disabled", "enabled": False, "feature_enabled": feature_enabled}


def compile_variants(
    variants: Sequence[Mapping[str, Any]],
    group_id: str,
    stickiness: str | None,
    *,
    with_overrides: bool,
) -> VariantPicker | None:
    """A picker over `variants`; None when there are none to pick from."""
    if not variants:
        return None
    templates = [_template(variant) for variant in variants]
    cumulative: list[int] = []
    total = 0
    for variant in variants:
        total += int(variant.get("weight") or 0)
        cumulative.append(total)
    overrides = _overrides(variants, templates) if with_overrides else []
    seed = _seed_getter(stickiness)
    prefix = group_id + ":"

    def pick(context: Context) -> Variant | None:
        for get, values, template in overrides:
            value = get(context)
            if value is not None and value in values:
                return template
        if total <= 0:
            return None  # no weight to share out (the reference engine fails here)
        identifier = seed(context)
        if identifier is None:
            target = _random.randrange(total)
        else:
            target = _murmur3(prefix + identifier, VARIANT_SEED, False) % total + 1
        return templates[min(bisect.bisect_left(cumulative, target), len(templates) - 1)]

    return pick


def variant_stickiness(variants: Sequence[Mapping[str, Any]]) -> str | None:
    """A flag's variants are sticky on what its first variant names."""
    stickiness = variants[0].get("stickiness") if variants else None
    return None if stickiness is None else str(stickiness)


def _template(variant: Mapping[str, Any]) -> Variant:
    template: Variant = {"name": str(variant.get("name", "")), "enabled": True}
    payload = variant.get("payload")
    if payload is not None:
        template["payload"] = dict(payload)
    template["feature_enabled"] = True
    return template


def _overrides(
    variants: Sequence[Mapping[str, Any]], templates: list[Variant]
) -> list[tuple[Getter, frozenset[str], Variant]]:
    found = []
    for variant, template in zip(variants, templates, strict=True):
        for override in variant.get("overrides") or []:
            get = field_getter(str(override.get("contextName", "")), OVERRIDE_FIELDS)
            found.append((get, frozenset(override.get("values") or []), template))
    return found


def _seed_getter(stickiness: str | None) -> Getter:
    if stickiness is None or stickiness == "default":
        user_id = field_getter("userId", STICKINESS_FIELDS)
        session_id = field_getter("sessionId", STICKINESS_FIELDS)

        def user_or_session(context: Context) -> str | None:
            value = user_id(context)
            return session_id(context) if value is None else value

        return user_or_session
    return field_getter(stickiness, STICKINESS_FIELDS)
