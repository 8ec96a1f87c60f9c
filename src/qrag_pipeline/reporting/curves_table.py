"""The training-curves table (train_q's `training_curves`) as the report reads it."""

from __future__ import annotations

import pandas as pd

from qrag_pipeline.errors import QragInputError

CURVE_COLUMNS = ("update", "train_return", "train_fact_em", "eval_fact_em", "loss")
"""The curve columns the report reads: the first of `qrag_pipeline.training`'s, which
extends this tuple, named here so the report does not import the training stack
(torch) for a tuple."""


def checked_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The curves in update order, or a `QragInputError` naming the table and the
    fix."""
    missing = [column for column in CURVE_COLUMNS if column not in curves.columns]
    if curves.empty or missing:
        problem = "is empty" if curves.empty else f"lacks columns {missing}"
        raise QragInputError(
            f"the training_curves table {problem}. Fix: rerun the train_q pipeline "
            "(kedro run --pipelines train_q)."
        )
    return curves.sort_values("update", ignore_index=True)
