"""The metrics table as the report reads it: checked once, then asked for columns.

The evaluate pipeline writes one row per benchmark, task, length bucket and method,
with one column per metric named `<metric>@<stop>` (`fact_em@T=4`, `fact_f1@oracle`).
The report relies on that naming only and does not import `qrag_pipeline.evaluation`
(which pulls in torch and the readers), so a metric added there reaches the full
table here without a change.
"""

from __future__ import annotations

import re

import pandas as pd

from qrag_pipeline.errors import QragInputError

GROUP_COLUMNS = ("benchmark", "task", "length_bucket", "method")
"""What one row of the table is about; the evaluate pipeline groups its scores by these."""
REQUIRED_COLUMNS = (
    *GROUP_COLUMNS,
    "n_episodes",
    "seconds_per_question_encode",
    "seconds_per_question_steps",
)
HEADLINE_METRICS = {
    "babilong": "fact_em",
    "ruler": "niah_values",
    "hotpotqa": "fact_em",
}
"""The metric each benchmark is judged by first (docs/benchmarks.md): RULER's own score is
the fraction of needle values found; BabiLong and HotpotQA report fact EM."""
FALLBACK_METRIC = "fact_em"
"""What a benchmark without its headline column (or an unknown one) is plotted by."""

_FIXED_STEPS = re.compile(r"^.+@T=(\d+)$")
_BUCKET = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")
_MULTIPLIERS = {"": 1, "k": 1_000, "m": 1_000_000}
_FIX = "Fix: rerun the evaluate pipeline (kedro run --pipelines evaluate)."


def checked_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """The metrics table with its group columns as text, or a `QragInputError` that
    names what is wrong and how to get a good one.

    Group columns become text because a CSV round trip turns a bucket such as "1000"
    into a number, which `bucket_tokens` and the plots' labels would then misread.
    """
    if table.empty:
        raise QragInputError(f"the retrieval_metrics table is empty. {_FIX}")
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise QragInputError(
            f"the retrieval_metrics table lacks columns {missing}: it was not written "
            f"by the evaluate pipeline of this version. {_FIX}"
        )
    if not any(_FIXED_STEPS.match(str(column)) for column in table.columns):
        raise QragInputError(
            "the retrieval_metrics table has no metric after T fixed steps (a column "
            f"named like fact_em@T=4). {_FIX}"
        )
    return table.astype({column: str for column in GROUP_COLUMNS})


def bucket_tokens(bucket: str) -> int | None:
    """The nominal token count of a length bucket ("4k" -> 4000, "1M" -> 1000000), or
    None for a bucket that is a setting rather than a length ("distractor")."""
    match = _BUCKET.match(bucket.strip())
    if match is None:
        return None
    return round(float(match.group(1)) * _MULTIPLIERS[match.group(2).lower()])


def methods(table: pd.DataFrame) -> list[str]:
    """The methods in the table's own order (the evaluate pipeline lists Q-RAG first,
    then the baselines), so every plot and table keeps one order and one colour."""
    return list(dict.fromkeys(table["method"]))


def panels(table: pd.DataFrame) -> list[tuple[str, str]]:
    """Every (benchmark, task) in the table's order."""
    return list(dict.fromkeys(zip(table["benchmark"], table["task"], strict=True)))


def fixed_steps(table: pd.DataFrame, benchmark: str) -> int | None:
    """The T a benchmark was scored at: the largest T of a `<metric>@T=<T>` column
    with a value in that benchmark's rows (a table of several benchmarks has every
    benchmark's columns, NaN in the others' rows); None if it has none."""
    rows = table[table["benchmark"] == benchmark]
    steps = [
        int(match.group(1))
        for column in rows.columns
        if (match := _FIXED_STEPS.match(str(column))) and rows[column].notna().any()
    ]
    return max(steps, default=None)


def metric_column(table: pd.DataFrame, benchmark: str, name: str) -> str | None:
    """The column of metric `name` for a benchmark: `name` itself when it names a stop
    (`fact_f1@oracle`), else `name@T=<T>` with the benchmark's T; None when that
    column is absent or empty in the benchmark's rows."""
    if "@" not in name:
        steps = fixed_steps(table, benchmark)
        if steps is None:
            return None
        name = f"{name}@T={steps}"
    if name not in table.columns:
        return None
    values = table.loc[table["benchmark"] == benchmark, name]
    return name if values.notna().any() else None


def headline_column(table: pd.DataFrame, benchmark: str) -> str | None:
    """The column a benchmark's accuracy is plotted by: its headline metric, else fact
    EM after T steps, else None."""
    preferred = HEADLINE_METRICS.get(benchmark, FALLBACK_METRIC)
    return metric_column(table, benchmark, preferred) or metric_column(table, benchmark, FALLBACK_METRIC)


def questions(table: pd.DataFrame) -> int:
    """How many questions the table scored: every method answers the same questions,
    so each (benchmark, task, length) counts once, with its largest `n_episodes`."""
    per_bucket = table.groupby(list(GROUP_COLUMNS[:3]), sort=False)["n_episodes"].max()
    return int(per_bucket.sum())
