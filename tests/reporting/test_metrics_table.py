"""The metrics table as the report reads it: checks, length buckets, T and columns."""

from __future__ import annotations

import pandas as pd
import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.reporting.metrics_table import (
    bucket_tokens,
    checked_metrics,
    fixed_steps,
    headline_column,
    metric_column,
    questions,
)
from tests.reporting.conftest import metrics_rows


@pytest.mark.parametrize(
    ("bucket", "tokens"),
    [
        ("1k", 1_000),
        ("4k", 4_000),
        ("32k", 32_000),
        ("128k", 128_000),
        ("1M", 1_000_000),
        ("10M", 10_000_000),
        ("1.5k", 1_500),
        ("512", 512),
    ],
)
def test_length_buckets_are_nominal_token_counts(bucket: str, tokens: int) -> None:
    assert bucket_tokens(bucket) == tokens


def test_a_setting_is_no_length() -> None:
    assert bucket_tokens("distractor") is None


def test_an_empty_metrics_table_names_the_table_and_the_fix(
    metrics: pd.DataFrame,
) -> None:
    fix = r"retrieval_metrics table is empty\. Fix: rerun the evaluate pipeline"
    with pytest.raises(QragInputError, match=fix):
        checked_metrics(metrics.iloc[:0])


def test_missing_columns_are_named(metrics: pd.DataFrame) -> None:
    missing = r"lacks columns \['n_episodes'\].*evaluate"
    with pytest.raises(QragInputError, match=missing):
        checked_metrics(metrics.drop(columns="n_episodes"))


def test_a_table_without_fixed_step_metrics_is_refused(metrics: pd.DataFrame) -> None:
    fixed = [column for column in metrics.columns if "@T=" in column]
    refused = r"no metric after T fixed steps.*evaluate"
    with pytest.raises(QragInputError, match=refused):
        checked_metrics(metrics.drop(columns=fixed))


def test_group_columns_become_text_after_a_csv_round_trip(
    metrics: pd.DataFrame,
) -> None:
    metrics["length_bucket"] = 1000  # what read_csv makes of a bucket named "1000"
    assert checked_metrics(metrics)["length_bucket"].tolist()[0] == "1000"


def test_t_comes_from_the_columns_with_values_per_benchmark() -> None:
    babilong = pd.DataFrame(metrics_rows({"babilong": {"qa1": ("1k",)}}))
    hotpotqa = pd.DataFrame(metrics_rows({"hotpotqa": {"hotpotqa": ("distractor",)}}))
    hotpotqa.columns = [column.replace("@T=4", "@T=2") for column in hotpotqa.columns]
    table = checked_metrics(pd.concat([babilong, hotpotqa], ignore_index=True))
    assert fixed_steps(table, "babilong") == 4
    assert fixed_steps(table, "hotpotqa") == 2
    assert fixed_steps(table, "ruler") is None
    assert metric_column(table, "hotpotqa", "fact_f1") == "fact_f1@T=2"
    assert metric_column(table, "babilong", "fact_f1@oracle") == "fact_f1@oracle"
    assert metric_column(table, "babilong", "steps@nowhere") is None


def test_headline_metric_per_benchmark_with_a_clean_fallback(
    metrics: pd.DataFrame,
) -> None:
    table = checked_metrics(metrics)
    assert headline_column(table, "babilong") == "fact_em@T=4"
    assert headline_column(table, "ruler") == "niah_values@T=4"
    without_niah = checked_metrics(metrics.drop(columns="niah_values@T=4"))
    assert headline_column(without_niah, "ruler") == "fact_em@T=4"


def test_questions_count_each_bucket_once_not_once_per_method(
    metrics: pd.DataFrame,
) -> None:
    # babilong 2 tasks x 3 lengths + ruler 2 tasks x 2 lengths, 10 questions each
    assert questions(checked_metrics(metrics)) == (6 + 4) * 10
