"""Named, independent random streams derived from one run seed.

A run is fixed by its parameters and one seed; each consumer (the train stories of
qa2, the test distractors, the 32k episodes of qa3, ...) gets its own stream derived
from that seed and its name, so adding a task or a length never changes the data of
the others.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *names: object) -> int:
    """A 63-bit seed from `seed` and a path of names, stable across Python versions."""
    key = "/".join([str(seed), *map(str, names)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def rng_for(seed: int, *names: object) -> np.random.Generator:
    """A numpy generator for the stream `names` of run seed `seed`."""
    return np.random.default_rng(derive_seed(seed, *names))
