"""The published figures to beat (docs/benchmarks.md, "Published figures") as data, and the
headline table that sets our measured figure beside each.

Scale: every rate is a fraction from 0 to 1, as the metrics table holds it; the
published percentages (97.8) are stored divided by 100 (0.978). Steps and hours keep
their unit, which the table's `unit` column names.

Our figure is Q-RAG's: the plain mean of the matching metrics-table rows (one row per
task and length), as the published averages are plain means over tasks. It is "not
measured" when the table has no such row or metric, never a figure of another metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qrag_pipeline.reporting.metrics_table import checked_metrics, metric_column
from qrag_pipeline.sources.babi_files import BABI_TASKS

NOT_MEASURED = "not measured"
OUR_METHOD = "q_rag"
HEADLINE_COLUMNS = (
    "benchmark",
    "metric",
    "setting",
    "unit",
    "published_q_rag",
    "strongest_other",
    "ours_q_rag",
    "our_column",
    "our_rows",
)
RULER_LENGTHS = ("4k", "8k", "16k", "32k", "64k", "128k")
BABI_ANSWER_METRICS = ("answer_accuracy_llm_reader", "answer_accuracy_rule_reader")
"""An LLM reader's accuracy when the run had one (the reference read with Qwen3-4B),
else the rule reader's; `our_column` says which it is."""


@dataclass(frozen=True)
class OurFigure:
    """Where our counterpart of a published figure is in the metrics table.

    `metrics` are tried in order and the first with a value wins (a metric without a
    stop, such as `fact_f1`, means `fact_f1@T=<T>` at the benchmark's T); empty
    `tasks` / `lengths` take every task / length of the benchmark. With `per_length`
    the figure is given once per measured length ("4k..128k" is a claim about each).
    """

    benchmark: str
    metrics: tuple[str, ...]
    tasks: tuple[str, ...] = ()
    lengths: tuple[str, ...] = ()
    per_length: bool = False


@dataclass(frozen=True)
class PublishedFigure:
    """One published figure: the reference Q-RAG value and the strongest other."""

    benchmark: str
    metric: str
    setting: str
    reference: float
    unit: str
    strongest_other: str
    ours: OurFigure | None


def _qa3_f1(length: str, reference: float) -> PublishedFigure:
    return PublishedFigure(
        "BabiLong qa3",
        "supporting-fact F1, oracle stop",
        length,
        reference,
        "fraction",
        "multi-step RAG without training 0.155; with supervised fine-tuning 0.20",
        OurFigure("babilong", ("fact_f1@oracle",), ("qa3",), (length,)),
    )


def _babi_answers(length: str, reference: float, armt: float) -> PublishedFigure:
    return PublishedFigure(
        "BabiLong qa1-qa5",
        "answer accuracy, mean of the tasks (about; Qwen3-4B reader)",
        length,
        reference,
        "fraction",
        f"ARMT {armt}",
        OurFigure("babilong", BABI_ANSWER_METRICS, tuple(BABI_TASKS), (length,)),
    )


def _qa2_learned(metric: str, reference: float, unit: str, column: str) -> PublishedFigure:
    return PublishedFigure(
        "BabiLong qa2",
        f"{metric}, learned stop (Q threshold 0.5)",
        "all lengths",
        reference,
        unit,
        "",
        OurFigure("babilong", (column,), ("qa2",)),
    )


def _ruler(setting: str, reference: float, other: str, lengths: tuple[str, ...]) -> PublishedFigure:
    return PublishedFigure(
        "RULER NIAH",
        "needle values found, mean of the 8 tasks",
        setting,
        reference,
        "fraction",
        other,
        OurFigure("ruler", ("niah_values",), (), lengths, per_length=True),
    )


def _hotpotqa(metric: str, reference: float, other: str, column: str) -> PublishedFigure:
    return PublishedFigure(
        "HotpotQA",
        metric,
        "distractor",
        reference,
        "fraction",
        other,
        OurFigure("hotpotqa", (column,), (), ("distractor",)),
    )


PUBLISHED: tuple[PublishedFigure, ...] = (
    _qa3_f1("1k", 0.978),
    _qa3_f1("32k", 0.971),
    _qa3_f1("1M", 0.965),
    _babi_answers("1M", 0.96, 0.934),
    _babi_answers("10M", 0.95, 0.766),
    _qa2_learned("steps kept", 2.23, "steps", "steps@learned"),
    _qa2_learned("supporting-fact EM", 0.988, "fraction", "fact_em@learned"),
    _qa2_learned("supporting-fact F1", 0.954, "fraction", "fact_f1@learned"),
    _ruler("4k..128k", 1.0, "LongRoPE2-8B 0.967 at 128k", RULER_LENGTHS),
    _ruler("1M", 0.997, "", ("1M",)),
    _hotpotqa("supporting-fact F1", 0.93, "Beam retriever 0.97", "fact_f1"),
    _hotpotqa("supporting-fact EM", 0.89, "Beam retriever 0.94", "fact_em"),
    _hotpotqa("answer F1 (QwQ-32B reader)", 0.76, "", "answer_f1_llm_reader"),
    _hotpotqa("answer EM (QwQ-32B reader)", 0.59, "", "answer_em_llm_reader"),
    PublishedFigure(
        "training",
        "compute per model: one A100-80GB, at most",
        "",
        12.0,
        "hours",
        "LLM-based RL retrievers: 8+ A100",
        None,
    ),
)


def headline_table(metrics: pd.DataFrame, published: tuple[PublishedFigure, ...] = PUBLISHED) -> pd.DataFrame:
    """One row per published figure (per measured length where it is per length): the
    published values, ours, the metrics-table column ours is, and the rows it pools.

    `ours_q_rag` holds a float, or "not measured" where the table has no such figure.
    """
    table = checked_metrics(metrics)
    rows = [row for figure in published for row in _rows_of(table, figure)]
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


def _rows_of(table: pd.DataFrame, figure: PublishedFigure) -> list[dict[str, object]]:
    ours = figure.ours
    if ours is None:
        return [_row(figure, figure.setting, None)]
    if not ours.per_length:
        return [_row(figure, figure.setting, _measure(table, ours, ours.lengths))]
    measured = [
        (length, found) for length in ours.lengths if (found := _measure(table, ours, (length,))) is not None
    ]
    if not measured:
        return [_row(figure, figure.setting, None)]
    return [_row(figure, length, found) for length, found in measured]


def _measure(table: pd.DataFrame, ours: OurFigure, lengths: tuple[str, ...]) -> tuple[float, str, str] | None:
    """(value, column, description of the rows) of the first metric with a value in
    the matching Q-RAG rows; None when no metric has one."""
    rows = table[(table["benchmark"] == ours.benchmark) & (table["method"] == OUR_METHOD)]
    if ours.tasks:
        rows = rows[rows["task"].isin(ours.tasks)]
    if lengths:
        rows = rows[rows["length_bucket"].isin(lengths)]
    for name in ours.metrics:
        column = metric_column(table, ours.benchmark, name)
        if column is None:
            continue
        measured = rows[rows[column].notna()]
        if not measured.empty:
            return float(measured[column].mean()), column, _described(measured)
    return None


def _described(rows: pd.DataFrame) -> str:
    tasks = ", ".join(dict.fromkeys(rows["task"]))
    lengths = ", ".join(dict.fromkeys(rows["length_bucket"]))
    count = f"{len(rows)} row" + ("s" if len(rows) != 1 else "")
    return f"mean of {count}: {tasks} at {lengths}; {int(rows['n_episodes'].sum())} questions"


def _row(figure: PublishedFigure, setting: str, measured: tuple[float, str, str] | None) -> dict[str, object]:
    value, column, described = measured or (NOT_MEASURED, "", "")
    return {
        "benchmark": figure.benchmark,
        "metric": figure.metric,
        "setting": setting,
        "unit": figure.unit,
        "published_q_rag": figure.reference,
        "strongest_other": figure.strongest_other,
        "ours_q_rag": value,
        "our_column": column,
        "our_rows": described,
    }
