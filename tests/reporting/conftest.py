"""Small hand-made metrics and curve tables in the schema of the evaluate and train_q
pipelines: BabiLong (qa2, qa3 at 1k, 32k, 1M) and RULER (two tasks at 4k, 32k), the
four methods, values drawn from a seeded generator so every cell differs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

METHODS = ("q_rag", "tfidf", "dense", "multistep_dense")
BUCKETS = {
    "babilong": {"qa2": ("1k", "32k", "1M"), "qa3": ("1k", "32k", "1M")},
    "ruler": {"single_1": ("4k", "32k"), "multikey_1": ("4k", "32k")},
}
FACTS = ("em", "precision", "recall", "f1")


def metrics_rows(buckets: dict[str, dict[str, tuple[str, ...]]], seed: int = 0) -> list[dict[str, object]]:
    """One row per benchmark, task, length and method, as `score_traces` writes it."""
    rng = np.random.default_rng(seed)
    return [
        _row(rng, benchmark, task, length, method)
        for benchmark, tasks in buckets.items()
        for task, lengths in tasks.items()
        for length in lengths
        for method in METHODS
    ]


def _row(rng: np.random.Generator, benchmark: str, task: str, length: str, method: str) -> dict[str, object]:
    q_rag, babi = method == "q_rag", benchmark == "babilong"
    row: dict[str, object] = {
        "benchmark": benchmark,
        "task": task,
        "length_bucket": length,
        "method": method,
        "n_episodes": 10,
    }
    for fact in FACTS:
        row[f"fact_{fact}@T=4"] = rng.uniform()
        row[f"fact_{fact}@learned"] = rng.uniform() if q_rag else math.nan
        row[f"fact_{fact}@oracle"] = rng.uniform()
    row["steps@learned"] = 1 + 3 * rng.uniform() if q_rag else math.nan
    row["answer_accuracy_rule_reader@T=4"] = rng.uniform() if babi else math.nan
    row["niah_values@T=4"] = math.nan if babi else rng.uniform()
    row["niah_all@T=4"] = math.nan if babi else rng.uniform()
    row["seconds_per_question_encode"] = 0.0 if method == "tfidf" else rng.uniform()
    row["seconds_per_question_steps"] = rng.uniform(0.001, 1.0)
    return row


@pytest.fixture
def metrics() -> pd.DataFrame:
    return pd.DataFrame(metrics_rows(BUCKETS))


@pytest.fixture
def curves() -> pd.DataFrame:
    """Four logged blocks; the held-out evaluation ran at updates 20 and 40 only."""
    return pd.DataFrame(
        {
            "update": [10, 20, 30, 40],
            "train_return": [0.1, 0.3, 0.5, 0.6],
            "train_fact_em": [0.05, 0.2, 0.4, 0.5],
            "eval_fact_em": [math.nan, 0.25, math.nan, 0.55],
            "loss": [1.0, 0.6, 0.4, 0.3],
            "loss_td": [0.8, 0.5, 0.35, 0.28],
            "loss_labels": [0.2, 0.1, 0.05, 0.02],
            "updates_per_s": [0.5, 0.5, 0.5, 0.5],
            "learning_rate": [2e-4] * 4,
            "alpha": [0.1] * 4,
        }
    )
