"""What a well-formed parameter value is, shared by the parameter rules
(`parameters.py`), the learner's settings (`rl/config.py`) and the training mix's
task weights (`training_data.py`)."""

from __future__ import annotations

import math
import numbers
from typing import Any


def is_whole(value: Any) -> bool:
    """A whole number: an int, not a bool (YAML's true) and not a float (2.5 updates)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """A real number that is neither a bool, NaN nor infinite."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
