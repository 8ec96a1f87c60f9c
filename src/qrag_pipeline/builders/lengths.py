"""How long a training document is: one size, or a range drawn from at every reset.

Evaluation documents come in fixed length buckets; training documents need not. A range
shows the learner many densities of distractors between the facts it looks for, and
lets one training mix hold short stories and long ones (a qa3 story runs to 228 facts)
without padding every document to the longest. Lengths are drawn log-uniformly, so
each doubling of the length is as frequent as the next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qrag_pipeline.errors import QragInputError


@dataclass(frozen=True)
class LengthRange:
    """Sentences per training document, `shortest` to `longest` (equal: one size)."""

    shortest: int
    longest: int

    @classmethod
    def of(
        cls, value: LengthRange | int | Sequence[int], name: str = "train_q.train_sentences"
    ) -> LengthRange:
        """`value` itself, a whole number (one size) or a pair [shortest, longest];
        anything else is an error naming `name`."""
        if isinstance(value, LengthRange):
            return value
        pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if (
            not isinstance(pair, Sequence)
            or isinstance(pair, str)
            or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
            or not 1 <= pair[0] <= pair[1]
        ):
            raise QragInputError(
                f"{name}={value!r} must be a whole number of sentences or a pair "
                "[shortest, longest] with 1 <= shortest <= longest. Fix: e.g. 50 or [50, 400]."
            )
        return cls(int(pair[0]), int(pair[1]))

    def draw(self, rng: np.random.Generator, at_least: int = 1) -> int:
        """One document's length, log-uniform in [max(shortest, at_least), longest].

        A single size draws nothing from `rng`, so fixed-length training streams stay
        what they were.
        """
        low = max(self.shortest, at_least)
        if low >= self.longest:
            return max(low, self.longest)
        return min(self.longest, int(math.exp(rng.uniform(math.log(low), math.log(self.longest + 1)))))
