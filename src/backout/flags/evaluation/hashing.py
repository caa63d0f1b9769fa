"""The buckets Unleash puts a user in: MurmurHash3 (x86, 32-bit) of `groupId:identifier`.

Every Unleash SDK computes the same numbers, which is what lets a flag served by backout roll out
to exactly the users an SDK would pick.
"""

from __future__ import annotations

import random

import mmh3

ROLLOUT_SEED = 0
VARIANT_SEED = 86028157  # the published specification's seed for variant buckets
_random = random.SystemRandom()


def normalized_value(
    identifier: str, group_id: str, normalizer: int = 100, seed: int = ROLLOUT_SEED
) -> int:
    """The bucket, from 1 to `normalizer`, that `identifier` falls in within `group_id`."""
    return int(mmh3.hash(f"{group_id}:{identifier}", seed, False)) % normalizer + 1


def random_bucket(normalizer: int = 100) -> int:
    """A bucket from 1 to `normalizer` for a context that has nothing to be sticky on."""
    return _random.randint(1, normalizer)
