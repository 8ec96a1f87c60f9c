"""train_q's curve and evaluate's headline metrics in the shape kedro-mlflow's
MlflowMetricsHistoryDataset logs (qrag_pipeline.tracking), without MLflow."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.tracking import CURVE_METRICS, curve_histories, headline_metrics, metric_key
from tests.reporting.conftest import BUCKETS, METHODS, curves, metrics  # noqa: F401  (fixtures)

MLFLOW_KEY = re.compile(r"^[/\w.\- :]*$")  # what MLflow's validation accepts


def test_curve_histories_are_one_point_per_row_at_its_update(
    curves: pd.DataFrame,  # noqa: F811
) -> None:
    histories = curve_histories(curves)
    assert set(histories) == set(CURVE_METRICS)
    assert histories["loss"] == [
        {"step": 10, "value": 1.0},
        {"step": 20, "value": 0.6},
        {"step": 30, "value": 0.4},
        {"step": 40, "value": 0.3},
    ]
    # held-out EM is measured every other block: only those points are logged
    assert histories["eval_fact_em"] == [{"step": 20, "value": 0.25}, {"step": 40, "value": 0.55}]


def test_a_curve_column_without_any_value_is_left_out(curves: pd.DataFrame) -> None:  # noqa: F811
    curves["alpha"] = math.nan
    assert "alpha" not in curve_histories(curves)


def test_headline_metrics_take_each_benchmarks_headline_column(
    metrics: pd.DataFrame,  # noqa: F811
) -> None:
    points = headline_metrics(metrics)
    babilong = sum(len(lengths) for lengths in BUCKETS["babilong"].values()) * len(METHODS)
    ruler = sum(len(lengths) for lengths in BUCKETS["ruler"].values()) * len(METHODS)
    assert len(points) == babilong + ruler
    assert all(MLFLOW_KEY.match(key) for key in points)
    row = metrics[(metrics.task == "qa3") & (metrics.length_bucket == "32k") & (metrics.method == "dense")]
    assert points["babilong.qa3.32k.dense.fact_em_at_T4"] == {"step": 0, "value": row["fact_em@T=4"].item()}
    row = metrics[
        (metrics.task == "single_1") & (metrics.length_bucket == "4k") & (metrics.method == "q_rag")
    ]
    assert points["ruler.single_1.4k.q_rag.niah_values_at_T4"] == {
        "step": 0,
        "value": row["niah_values@T=4"].item(),
    }


def test_headline_metrics_of_a_table_without_metric_columns_name_the_fix(
    metrics: pd.DataFrame,  # noqa: F811
) -> None:
    with pytest.raises(QragInputError, match="rerun the evaluate pipeline"):
        headline_metrics(metrics[["benchmark", "task", "length_bucket", "method", "n_episodes"]])


def test_metric_keys_use_only_what_mlflow_accepts() -> None:
    assert (
        metric_key("babilong", "qa1", "1k", "q_rag", "fact_em@T=4") == "babilong.qa1.1k.q_rag.fact_em_at_T4"
    )
    assert metric_key("hotpotqa", "distractor", "fact_f1@learned") == "hotpotqa.distractor.fact_f1_at_learned"
    assert metric_key("a+b", "c,d") == "a_b.c_d"
