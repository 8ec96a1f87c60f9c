"""The run's facts at the top of the report: what was measured, on how much.

Read from the tables themselves, not from the parameters, so that a report built from
an older saved version of the tables describes that version.
"""

from __future__ import annotations

import pandas as pd

from qrag_pipeline.reporting.curves_table import checked_curves
from qrag_pipeline.reporting.metrics_table import (
    checked_metrics,
    fixed_steps,
    methods,
    questions,
)


def run_facts(metrics: pd.DataFrame, curves: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, value) pairs: the methods, the questions of each benchmark with its
    tasks, lengths and T, and the length of training with its last evaluation."""
    table = checked_metrics(metrics)
    facts = [
        ("methods", ", ".join(methods(table))),
        ("questions per method", str(questions(table))),
    ]
    for benchmark in dict.fromkeys(table["benchmark"]):
        rows = table[table["benchmark"] == benchmark]
        facts.append((benchmark, _benchmark_fact(rows, fixed_steps(table, benchmark))))
    facts.append(("training", _training_fact(checked_curves(curves))))
    return facts


def _benchmark_fact(rows: pd.DataFrame, steps: int | None) -> str:
    tasks = ", ".join(dict.fromkeys(rows["task"]))
    lengths = ", ".join(dict.fromkeys(rows["length_bucket"]))
    return (
        f"{questions(rows)} questions; tasks {tasks}; lengths {lengths}; "
        f"T = {steps if steps is not None else 'unknown'} fixed steps"
    )


def _training_fact(curves: pd.DataFrame) -> str:
    text = f"{int(curves['update'].iloc[-1])} updates"
    evaluated = curves.dropna(subset=["eval_fact_em"])
    if not evaluated.empty:
        last = evaluated.iloc[-1]
        text += f"; held-out fact EM {last['eval_fact_em']:.3f} at update {int(last['update'])}"
    return text
