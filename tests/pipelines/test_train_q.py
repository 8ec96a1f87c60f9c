"""train_q through Kedro (tiny environment: a one-layer encoder, four updates)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from qrag_pipeline.builders.ruler import NIAH_TASKS
from qrag_pipeline.checkpoints import load_checkpoint
from qrag_pipeline.locks import LOCK_FILE
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.pipelines.train_q.nodes import NOT_FINGERPRINTED, train_q_fingerprint
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.sources.babi_files import BABI_TASKS
from qrag_pipeline.training import CURVE_COLUMNS
from tests.projects import kedro_cli, kedro_run


def test_train_q_writes_a_versioned_checkpoint_and_curve_and_resumes(
    copy_of: Callable[[Path], Path], prepared_project: Path, run_pipeline
) -> None:
    project_copy = copy_of(prepared_project)
    run_pipeline("train_q")
    (checkpoint_dir,) = (project_copy / "data/06_models/q_embedder_checkpoint").glob(
        "*/q_embedder_checkpoint"
    )
    checkpoint = load_checkpoint(checkpoint_dir)
    network = checkpoint.build_network()
    assert (
        checkpoint.config["num_layers"] == 1 and checkpoint.training_state["learning"]["total_updates"] == 4
    )
    assert checkpoint.config["frozen_action_encoder"] is True  # conf/base's default
    assert checkpoint.training_state["learning"]["label_loss"] == "softmax"  # conf/base's too
    assert network.state_encoder.encode(["Where is Mary?"]).shape == (1, 384)
    (curves_path,) = (project_copy / "data/08_reporting/training_curves.csv").glob("*/training_curves.csv")
    curves = pd.read_csv(curves_path)
    assert list(curves.columns) == list(CURVE_COLUMNS) and curves["update"].tolist() == [2, 4]
    assert (curves["loss_labels"] > 0).all()
    assert curves["loss"].tolist() == pytest.approx((curves["loss_td"] + curves["loss_labels"]).tolist())
    (run_dir,) = (project_copy / "data/06_models/train_q_runs").iterdir()
    assert sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) == [
        "update-00000002",
        "update-00000004",
    ]

    # the same command again finds the finished run and returns the same model
    run_pipeline("train_q")
    second = sorted((project_copy / "data/06_models/q_embedder_checkpoint").glob("*/q_embedder_checkpoint"))[
        -1
    ]
    assert all(
        torch.equal(a, b)
        for a, b in zip(checkpoint.weights.values(), load_checkpoint(second).weights.values(), strict=True)
    )

    # the label term is part of the run's fingerprint: turned off, it is a new run
    run_pipeline("train_q", params={"train_q": {"learning": {"label_loss": "none"}}})
    assert len(list((project_copy / "data/06_models/train_q_runs").iterdir())) == 2
    third = sorted((project_copy / "data/06_models/q_embedder_checkpoint").glob("*/q_embedder_checkpoint"))[
        -1
    ]
    assert load_checkpoint(third).training_state["learning"]["label_loss"] == "none"
    latest_curves = sorted(
        (project_copy / "data/08_reporting/training_curves.csv").glob("*/training_curves.csv")
    )
    assert (pd.read_csv(latest_curves[-1])["loss_labels"] == 0).all()


def test_kedro_run_pipeline_train_q_from_the_command_line(
    copy_of: Callable[[Path], Path], prepared_project: Path
) -> None:
    project = copy_of(prepared_project)
    done = kedro_cli(project, "--pipeline", "train_q")
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(
        (project / "data/06_models/q_embedder_checkpoint").glob("*/q_embedder_checkpoint/model.safetensors")
    )

    bad = kedro_run(project, "--pipeline", "train_q", "--params", "train_q.learning.learnin_rate=0.1")
    assert bad.returncode == 1
    assert "Error: unknown learner parameters ['learnin_rate']" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_papers_trained_action_encoder_trains_and_evaluates_through_kedro(
    copy_of: Callable[[Path], Path], prepared_project: Path, run_pipeline
) -> None:
    """conf/paper's action side (both encoders trained, chunks re-encoded at each reset)
    stays one parameter away: it trains, and evaluate embeds the chunks with its own
    action encoder instead of reading the shared pretrained embeddings."""
    paper = {"train_q": {"model": {"frozen_action_encoder": False}}}
    project_copy = copy_of(prepared_project)
    run_pipeline("train_q", params=paper)
    run_pipeline("evaluate")
    (checkpoint_dir,) = (project_copy / "data/06_models/q_embedder_checkpoint").glob(
        "*/q_embedder_checkpoint"
    )
    checkpoint = load_checkpoint(checkpoint_dir)
    assert checkpoint.config["frozen_action_encoder"] is False
    start = QNetwork.from_pretrained(num_layers=1, max_length=64)
    trained = checkpoint.build_network()
    assert not torch.equal(  # the action encoder moved from its pretrained weights
        trained.action_encoder.model.encoder.layer[0].output.dense.weight,
        start.action_encoder.model.encoder.layer[0].output.dense.weight,
    )
    (traces_path,) = (project_copy / "data/07_model_output/q_retrieval_traces.parquet").glob("*/*.parquet")
    (baselines_path,) = (project_copy / "data/07_model_output/baseline_traces.parquet").glob("*/*.parquet")
    q_encode = pd.read_parquet(traces_path).encode_s
    baselines = pd.read_parquet(baselines_path)
    assert (q_encode > 0).all()
    assert q_encode.tolist() != baselines[baselines.method == "dense"].encode_s.tolist()


def test_the_default_configuration_trains_one_model_on_all_thirteen_tasks(
    project_copy: Path, run_pipeline
) -> None:
    """conf/base's task list (five bAbI tasks, eight NIAH tasks), at the tiny sizes."""
    base = yaml.safe_load((project_copy / "conf/base/parameters_train_q.yml").read_text())["train_q"]
    tasks = base["tasks"]
    assert sorted(tasks) == sorted([*BABI_TASKS, *NIAH_TASKS])
    run_pipeline("data_prep", params={"data_prep": {"babilong": {"tasks": list(BABI_TASKS)}}})
    run_pipeline("embed")
    run_pipeline(
        "train_q",
        params={"train_q": {"tasks": tasks, "validation_questions": 2, "train_sentences": [12, 200]}},
    )
    (checkpoint_dir,) = (project_copy / "data/06_models/q_embedder_checkpoint").glob(
        "*/q_embedder_checkpoint"
    )
    checkpoint = load_checkpoint(checkpoint_dir)
    # the stop thresholds were chosen on validation episodes of both benchmarks
    assert set(checkpoint.stop_thresholds) == {"babilong", "ruler", "all"}


def test_every_train_q_key_but_the_named_exclusions_names_a_new_run() -> None:
    train_q = yaml.safe_load((Path("conf/base/parameters_train_q.yml")).read_text())["train_q"]
    frames = (pd.DataFrame({"text": ["Mary went to the kitchen."]}), pd.DataFrame(), pd.DataFrame())
    embeddings = EpisodeEmbeddings(["Mary went to the kitchen."], np.ones((1, 4), dtype=np.float32), {})
    base = train_q_fingerprint(train_q, frames, embeddings)
    assert train_q_fingerprint(dict(train_q), frames, embeddings) == base
    unchanged = {
        "run_root": "elsewhere/runs",
        "resume": False,
        "progress": False,
        "checkpoint_every": 7,
        "distributed": {**train_q["distributed"], "rdzv_endpoint": "host:29500", "backend": "gloo"},
    }
    assert set(unchanged) == NOT_FINGERPRINTED
    for key, value in unchanged.items():
        assert train_q_fingerprint({**train_q, key: value}, frames, embeddings) == base, key
    changed = {
        "a key added to conf later": {**train_q, "new_setting": 1},
        "the learner": {**train_q, "learning": {**train_q["learning"], "label_weight": 0.5}},
        "the model": {**train_q, "model": {**train_q["model"], "scale": 0.2}},
        "two processes": {**train_q, "distributed": {**train_q["distributed"], "nproc_per_node": 2}},
    }
    for what, parameters in changed.items():
        assert train_q_fingerprint(parameters, frames, embeddings) != base, what
    other_pool = (pd.DataFrame({"text": ["John went to the garden."]}), *frames[1:])
    assert train_q_fingerprint(train_q, other_pool, embeddings) != base
