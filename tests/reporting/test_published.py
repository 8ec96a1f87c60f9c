"""The headline table: our figure is the right cell (or mean of cells) of the metrics
table, beside the published one on the same 0-1 scale, or "not measured"."""

from __future__ import annotations

import pandas as pd
import pytest

from qrag_pipeline.reporting.published import (
    HEADLINE_COLUMNS,
    NOT_MEASURED,
    PUBLISHED,
    headline_table,
)
from tests.reporting.conftest import BUCKETS, metrics_rows


def _row(table: pd.DataFrame, benchmark: str, metric: str, setting: str) -> pd.Series:
    rows = table[
        (table.benchmark == benchmark) & table.metric.str.startswith(metric) & (table.setting == setting)
    ]
    (index,) = rows.index
    return rows.loc[index]


def _q_rag(metrics: pd.DataFrame, **where: object) -> pd.DataFrame:
    rows = metrics[metrics.method == "q_rag"]
    for name, value in where.items():
        rows = rows[rows[name].isin(value if isinstance(value, list) else [value])]
    return rows


def test_every_published_figure_has_a_row_with_its_published_values(
    metrics: pd.DataFrame,
) -> None:
    table = headline_table(metrics)
    assert list(table.columns) == list(HEADLINE_COLUMNS)
    assert set(table.benchmark) == {figure.benchmark for figure in PUBLISHED}
    qa3 = _row(table, "BabiLong qa3", "supporting-fact F1, oracle stop", "32k")
    assert qa3.published_q_rag == 0.971  # 97.1 percent, as a fraction
    assert "0.155" in qa3.strongest_other
    fractions = table[table.unit == "fraction"].published_q_rag
    assert ((fractions > 0) & (fractions <= 1)).all()


def test_ours_is_the_matching_q_rag_cell(metrics: pd.DataFrame) -> None:
    table = headline_table(metrics)
    for length in ("1k", "32k", "1M"):
        row = _row(table, "BabiLong qa3", "supporting-fact F1, oracle stop", length)
        cell = _q_rag(metrics, benchmark="babilong", task="qa3", length_bucket=length)
        assert row.ours_q_rag == cell["fact_f1@oracle"].item()
        assert row.our_column == "fact_f1@oracle"
        assert row.our_rows == f"mean of 1 row: qa3 at {length}; 10 questions"


def test_averages_are_plain_means_of_the_matching_rows(metrics: pd.DataFrame) -> None:
    table = headline_table(metrics)
    for length in ("4k", "32k"):  # RULER: one row per measured length of 4k..128k
        row = _row(table, "RULER NIAH", "needle values found", length)
        cells = _q_rag(metrics, benchmark="ruler", length_bucket=length)
        assert row.ours_q_rag == pytest.approx(cells["niah_values@T=4"].mean())
        assert row.our_column == "niah_values@T=4"
    learned = _row(table, "BabiLong qa2", "supporting-fact F1", "all lengths")
    cells = _q_rag(metrics, benchmark="babilong", task="qa2")
    assert learned.ours_q_rag == pytest.approx(cells["fact_f1@learned"].mean())
    steps = _row(table, "BabiLong qa2", "steps kept", "all lengths")
    assert steps.unit == "steps" and steps.published_q_rag == 2.23
    assert steps.ours_q_rag == pytest.approx(cells["steps@learned"].mean())


def test_answer_accuracy_says_which_reader_it_is(metrics: pd.DataFrame) -> None:
    cells = _q_rag(metrics, benchmark="babilong", length_bucket="1M")
    row = _row(headline_table(metrics), "BabiLong qa1-qa5", "answer accuracy", "1M")
    assert row.our_column == "answer_accuracy_rule_reader@T=4"
    rule_reader = cells["answer_accuracy_rule_reader@T=4"].mean()
    assert row.ours_q_rag == pytest.approx(rule_reader)
    metrics["answer_accuracy_llm_reader@T=4"] = 0.5
    row = _row(headline_table(metrics), "BabiLong qa1-qa5", "answer accuracy", "1M")
    assert (row.our_column, row.ours_q_rag) == ("answer_accuracy_llm_reader@T=4", 0.5)


def test_figures_without_a_row_are_not_measured(metrics: pd.DataFrame) -> None:
    table = headline_table(metrics)
    for benchmark, metric, setting in [
        ("BabiLong qa1-qa5", "answer accuracy", "10M"),
        ("RULER NIAH", "needle values found", "1M"),
        ("HotpotQA", "supporting-fact F1", "distractor"),
        ("training", "compute", ""),
    ]:
        row = _row(table, benchmark, metric, setting)
        assert (row.ours_q_rag, row.our_column) == (NOT_MEASURED, "")
    no_ruler = headline_table(metrics[metrics.benchmark != "ruler"])
    row = _row(no_ruler, "RULER NIAH", "needle values found", "4k..128k")
    assert row.ours_q_rag == NOT_MEASURED


def test_hotpotqa_is_read_at_its_own_t() -> None:
    babilong = pd.DataFrame(metrics_rows(BUCKETS))
    hotpotqa = pd.DataFrame(metrics_rows({"hotpotqa": {"hotpotqa": ("distractor",)}}))
    hotpotqa.columns = [column.replace("@T=4", "@T=2") for column in hotpotqa.columns]
    metrics = pd.concat([babilong, hotpotqa], ignore_index=True)
    table = headline_table(metrics)
    cell = _q_rag(hotpotqa, benchmark="hotpotqa")
    for metric, column in [
        ("supporting-fact F1", "fact_f1@T=2"),
        ("supporting-fact EM", "fact_em@T=2"),
    ]:
        row = _row(table, "HotpotQA", metric, "distractor")
        assert (row.our_column, row.ours_q_rag) == (column, cell[column].item())
    answer = _row(table, "HotpotQA", "answer F1", "distractor")
    assert answer.ours_q_rag == NOT_MEASURED  # no LLM reader in this run
