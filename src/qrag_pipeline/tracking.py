"""What a tracked run records as MLflow metrics: train_q's curve and evaluate's
headline metrics, as plain dictionaries.

The shape is kedro-mlflow's `MlflowMetricsHistoryDataset`'s (`{key: [{"step": s,
"value": v}, ...]}`, or one `{"step", "value"}` for a single point): the catalog decides
where they go (conf/base/catalog.yml prefixes the keys with the stage), so this module
imports neither Kedro nor MLflow and the nodes that call it stay one line.

MLflow accepts only letters, digits and `_ - . / : space` in a metric key; the metrics
table's columns are named `<metric>@<stop>` (`fact_em@T=4`, `fact_f1@learned`), so
`metric_key` spells them `fact_em_at_T4`, `fact_f1_at_learned`.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from qrag_pipeline.reporting.metrics_table import checked_metrics, headline_column
from qrag_pipeline.training import CURVE_COLUMNS

CURVE_METRICS = tuple(column for column in CURVE_COLUMNS if column != "update")
"""The columns of `training_curves` recorded as metric histories (all but `update`,
which is their step)."""

MetricPoint = dict[str, float | int]

_NOT_IN_A_KEY = re.compile(r"[^\w.\- /:]")


def metric_key(*parts: str) -> str:
    """`parts` joined by dots, each spelled with the characters MLflow allows in a
    metric key (`@` -> `_at_`, `=` dropped, anything else not allowed -> `_`)."""
    spelled = (part.replace("@", "_at_").replace("=", "") for part in parts)
    return ".".join(_NOT_IN_A_KEY.sub("_", part) for part in spelled)


def curve_histories(curves: pd.DataFrame) -> dict[str, list[MetricPoint]]:
    """Each curve column as a history, one point per row at step `update`; a column's
    missing values (`eval_fact_em` between evaluations) are left out, and so is a
    column with no value at all (MLflow has no empty history)."""
    histories = {}
    for column in CURVE_METRICS:
        points = [
            {"step": int(update), "value": float(value)}
            for update, value in zip(curves["update"], curves[column], strict=True)
            if math.isfinite(value)
        ]
        if points:
            histories[column] = points
    return histories


def headline_metrics(metrics: pd.DataFrame) -> dict[str, MetricPoint]:
    """Each row's headline metric (the one the report plots: BabiLong and HotpotQA
    fact EM@T, RULER the needle values found), keyed by benchmark, task, length,
    method and the metric's column, at step 0."""
    table = checked_metrics(metrics)
    points = {}
    for benchmark in dict.fromkeys(table["benchmark"]):
        column = headline_column(table, benchmark)
        if column is None:
            continue
        rows = table[table["benchmark"] == benchmark]
        for task, length, method, value in zip(
            rows["task"], rows["length_bucket"], rows["method"], rows[column], strict=True
        ):
            if math.isfinite(value):
                key = metric_key(benchmark, task, length, method, column)
                points[key] = {"step": 0, "value": float(value)}
    return points
