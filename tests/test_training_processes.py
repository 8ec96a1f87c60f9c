"""train_q on two processes (gloo, CPU), through torch.distributed's elastic launcher.

Each launch spawns two worker processes that import torch and the project, then train
the tiny configuration for 4 updates: every rank its own episodes, the gradients
averaged. Checked: both ranks end with bit-equal weights, and not a single process's;
a rank killed mid-run, then the same call again, ends as the uninterrupted run did
(weights and curve); the result loads in `QRetriever`; one process is today's run.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from kedro.config import OmegaConfigLoader

from qrag_pipeline.api import QRetriever
from qrag_pipeline.checkpoints import save_checkpoint
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.rl.config import distributed_config
from qrag_pipeline.rl.learner import QLearner
from qrag_pipeline.rl.ranks import Ranks
from qrag_pipeline.settings import CONFIG_LOADER_ARGS
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.training import CURVE_COLUMNS, latest_checkpoint, run_training
from qrag_pipeline.training_data import TrainingPools
from qrag_pipeline.training_processes import launch, process_group, train_on_processes
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow
TWO = {"nproc_per_node": 2, "backend": "gloo"}
KILLED_AT = 3
"""Rank 1 kills itself before its 4th update: the run's checkpoint of update 2 stays."""


@pytest.fixture(scope="module")
def training_setup() -> tuple[dict[str, Any], TrainingPools]:
    """conf/tiny's train_q on qa1 (4 updates, a checkpoint every 2) and its pools (no
    pool embeddings: the frozen action encoder encodes each new document's chunks)."""
    parameters = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env="tiny", **CONFIG_LOADER_ARGS)["parameters"]
    train_q = {**parameters["train_q"], "tasks": ["qa1"], "device": "cpu"}
    return train_q, TrainingPools(generate_babi_samples("qa1", 20, seed=1), generate_prose(2, 60, seed=2))


def _train_as_each_rank(
    train_q: dict[str, Any],
    pools: TrainingPools,
    run_dir: Path,
    kill_at: int | None,
) -> tuple[dict[str, torch.Tensor], pd.DataFrame]:
    """One worker's run, returning its own final weights and curve; with `kill_at`, rank 1
    SIGKILLs itself when it is about to make update `kill_at + 1`."""
    with process_group("cpu", "gloo") as (ranks, _):
        if kill_at is not None and ranks.rank == 1:
            update = QLearner.update

            def dying_update(learner: QLearner) -> dict[str, float]:
                if learner.updates == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return update(learner)

            QLearner.update = dying_update  # type: ignore[method-assign]
        result = run_training(train_q, pools, None, run_dir, ranks)
        return {k: v.clone() for k, v in result.network.state_dict().items()}, result.curves


def _equal(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_two_ranks_end_bit_equal_and_a_killed_run_resumes_to_the_same_model(
    training_setup, tmp_path: Path
) -> None:
    train_q, pools = training_setup
    two = {**train_q, "distributed": TWO}
    settings = distributed_config(TWO)

    each_rank = launch(settings, _train_as_each_rank, two, pools, tmp_path / "whole", None)
    assert sorted(each_rank) == [0, 1]
    (weights, curves), (rank_1_weights, _) = each_rank[0], each_rank[1]
    assert _equal(weights, rank_1_weights)
    single = run_training(train_q, pools, None, None).network.state_dict()
    assert not _equal(weights, single)  # rank 1's episodes moved the weights too

    with pytest.raises(RuntimeError, match="rank"):
        launch(settings, _train_as_each_rank, two, pools, tmp_path / "killed", KILLED_AT)
    kept = latest_checkpoint(tmp_path / "killed")
    assert kept is not None and kept.name.endswith("00000002")
    resumed, resumed_curves = train_on_processes(two, pools, None, tmp_path / "killed")
    assert _equal(resumed.weights, weights)

    assert curves["update"].tolist() == [2, 4]
    assert all(math.isfinite(v) for v in curves[["loss", "loss_td", "train_return"]].to_numpy().flat)
    timeless = [c for c in CURVE_COLUMNS if c != "updates_per_s"]
    assert resumed_curves[timeless].equals(curves[timeless])
    save_checkpoint(resumed, tmp_path / "model")
    retriever = QRetriever.from_checkpoint(tmp_path / "model")
    hits = retriever.retrieve(
        ["Mary went to the office.", "The sun rose.", "John slept."], "Where is Mary?", 2
    )
    assert 1 <= len(hits) <= 2


def test_one_process_is_the_single_process_run_bit_for_bit(training_setup) -> None:
    train_q, pools = training_setup
    torch.manual_seed(0)
    alone = run_training(train_q, pools, None, None)
    torch.manual_seed(0)
    one, _ = train_on_processes({**train_q, "distributed": {"nproc_per_node": 1}}, pools, None, None)
    assert _equal(one.weights, alone.checkpoint.weights)
    assert one.stop_thresholds == alone.checkpoint.stop_thresholds


def test_a_run_resumes_only_on_as_many_processes_and_bad_settings_are_named(
    training_setup, tmp_path: Path
) -> None:
    train_q, pools = training_setup
    short = {**train_q, "learning": {**train_q["learning"], "total_updates": 2}}
    run_training(short, pools, None, tmp_path)
    # the check comes before any message between ranks: rank 0 of two, alone, meets it
    with pytest.raises(QragInputError, match=r"trained on 1 process\(es\), and this run has 2"):
        run_training(short, pools, None, tmp_path, Ranks(0, 2))
    for bad, named in [
        ({"nproc_per_node": 0}, "nproc_per_node=0 must be a whole number"),
        ({"backend": "mpi"}, "backend='mpi' is not one of"),
        ({"nnodes": 2}, "needs a rendezvous every machine reaches"),
        ({"rdzv_endpoint": "host"}, "is not host:port"),
        ({"nprocs": 2}, r"unknown train_q.distributed settings \['nprocs'\]"),
    ]:
        with pytest.raises(QragInputError, match=named):
            distributed_config(bad)
