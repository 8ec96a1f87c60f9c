"""Determinism: the same inputs and seed give the same artifacts, and any evaluation can
be reproduced from its saved inputs.

- data_prep as `kedro run` in a fresh process and in this test worker's process, under
  different hash seeds (so that no set or dict order can leak into the data): every
  data_prep table (pools and the episodes of every benchmark) identical.
- embed + train_q + evaluate twice with the same seed on the CPU (two fresh projects on
  the same data): the checkpoint's weights bitwise equal, the traces equal, the
  metrics equal (timing columns aside: wall-clock seconds differ by nature).
- `kedro run --pipelines evaluate --load-versions ...`: after data_prep, train_q and
  embed wrote newer versions (another seed), evaluate with the first run's input
  versions pinned reproduces the first evaluation's traces and metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from qrag_pipeline.checkpoints import load_checkpoint
from tests.projects import (
    NO_RUN_FOLDER,
    kedro_cli,
    kedro_run,
    latest,
    make_project,
    run_stage,
)

DATA_PREP_TABLES = (
    "babi_train_stories",
    "babi_test_stories",
    "train_distractor_sentences",
    "test_distractor_sentences",
    "babilong_eval_episodes",
    "ruler_eval_episodes",
    "hotpotqa_train_episodes",
    "hotpotqa_eval_episodes",
    "eval_episodes",
)
EVALUATION_INPUTS = ("eval_episodes", "q_embedder_checkpoint", "pretrained_chunk_embeddings")


def table(project: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(latest(project, f"{name}.parquet"))


def timeless(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` without its wall-clock columns (encode_s, steps_s, seconds_per_question_*)."""
    return frame[[c for c in frame.columns if not (c.endswith("_s") or "seconds" in c)]]


def evaluation(project: Path, version: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, all traces) of the latest evaluation, or of the one saved at `version`."""

    def read(name: str, reader) -> pd.DataFrame:
        path = (
            latest(project, name)
            if version is None
            else next(project.glob(f"data/*/{name}/{version}/{name}"))
        )
        return timeless(reader(path))

    traces = pd.concat(
        [
            read("q_retrieval_traces.parquet", pd.read_parquet),
            read("baseline_traces.parquet", pd.read_parquet),
        ],
        ignore_index=True,
    )
    return read("retrieval_metrics.csv", pd.read_csv), traces


def version_of(project: Path, name: str) -> str:
    """The timestamp of the latest saved version of catalog entry `name`."""
    pattern = f"data/*/{name}{'.parquet' if name == 'eval_episodes' else ''}/*"
    return sorted(project.glob(pattern))[-1].name


def test_data_prep_in_a_fresh_process_with_another_hash_seed_gives_identical_tables(
    data_prepped_project: Path, tmp_path: Path
) -> None:
    # this worker's hash seed is PYTHONHASHSEED where set, else random: the fresh
    # process is given one that differs from it either way
    hash_seed = "4242" if os.environ.get("PYTHONHASHSEED") != "4242" else "7"
    project = make_project(tmp_path / "fresh")
    done = kedro_run(project, "--pipelines", "data_prep", env_extra={"PYTHONHASHSEED": hash_seed})
    assert done.returncode == 0, done.stderr[-3000:]
    for name in DATA_PREP_TABLES:
        fresh, in_process = (table(p, name) for p in (project, data_prepped_project))
        pd.testing.assert_frame_equal(fresh, in_process, check_exact=True, obj=name)
    assert len(table(project, "eval_episodes")) > 0


def test_embed_train_q_evaluate_twice_with_the_same_seed_give_equal_results(
    evaluated_project: Path, prepared_project: Path, tmp_path: Path
) -> None:
    again = make_project(tmp_path / "again", data_from=prepared_project)
    for stage in ("embed", "train_q", "evaluate"):
        run_stage(again, stage, NO_RUN_FOLDER)

    first = load_checkpoint(latest(evaluated_project, "q_embedder_checkpoint"))
    second = load_checkpoint(latest(again, "q_embedder_checkpoint"))
    assert first.weights.keys() == second.weights.keys()
    assert all(torch.equal(first.weights[k], second.weights[k]) for k in first.weights)
    (metrics, traces), (metrics_again, traces_again) = evaluation(evaluated_project), evaluation(again)
    pd.testing.assert_frame_equal(traces, traces_again, check_exact=True)
    pd.testing.assert_frame_equal(metrics, metrics_again, check_exact=True)
    assert len(metrics) > 0 and metrics.filter(like="fact_").notna().any().any()


def test_kedro_run_load_versions_reproduces_an_earlier_evaluation(
    evaluated_project: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", data_from=evaluated_project)
    pins = {name: version_of(project, name) for name in EVALUATION_INPUTS}
    earlier = version_of(project, "retrieval_metrics.csv")
    # newer versions of every input: another model, other stories, their embeddings
    run_stage(project, "train_q", {"train_q": {"resume": False, "learning": {"seed": 3}}})
    run_stage(project, "data_prep", {"data_prep": {"seed": 7}})
    run_stage(project, "embed")
    assert all(version_of(project, name) != pins[name] for name in EVALUATION_INPUTS)
    newer_episodes = table(project, "eval_episodes")
    pinned_episodes = pd.read_parquet(
        project
        / "data/05_model_input/eval_episodes.parquet"
        / pins["eval_episodes"]
        / "eval_episodes.parquet"
    )
    assert not newer_episodes.equals(pinned_episodes)

    done = kedro_cli(
        project,
        "--pipelines",
        "evaluate",
        "--params",
        "evaluate.device=cpu",
        "--load-versions",
        ",".join(f"{name}:{version}" for name, version in pins.items()),
    )

    assert done.returncode == 0, done.stderr[-3000:]
    metrics, traces = evaluation(project)
    earlier_metrics, earlier_traces = evaluation(project, earlier)
    assert version_of(project, "retrieval_metrics.csv") != earlier
    pd.testing.assert_frame_equal(traces, earlier_traces, check_exact=True)
    pd.testing.assert_frame_equal(metrics, earlier_metrics, check_exact=True)
