"""train_q through Kedro (tiny environment: a one-layer encoder, four updates)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from qrag_pipeline.checkpoints import load_checkpoint
from qrag_pipeline.training import CURVE_COLUMNS


def test_train_q_writes_a_versioned_checkpoint_and_curve_and_resumes(project_copy: Path, run_pipeline) -> None:
    run_pipeline("data_prep")
    run_pipeline("train_q")
    (checkpoint_dir,) = (project_copy / "data/06_models/q_embedder_checkpoint").glob("*/q_embedder_checkpoint")
    checkpoint = load_checkpoint(checkpoint_dir)
    network = checkpoint.build_network()
    assert checkpoint.config["num_layers"] == 1 and checkpoint.training_state["learning"]["total_updates"] == 4
    assert network.state_encoder.encode(["Where is Mary?"]).shape == (1, 384)
    (curves_path,) = (project_copy / "data/08_reporting/training_curves.csv").glob("*/training_curves.csv")
    curves = pd.read_csv(curves_path)
    assert list(curves.columns) == list(CURVE_COLUMNS) and curves["update"].tolist() == [2, 4]
    (run_dir,) = (project_copy / "data/06_models/train_q_runs").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["update-00000002", "update-00000004"]

    # the same command again finds the finished run and returns the same model
    run_pipeline("train_q")
    second = sorted((project_copy / "data/06_models/q_embedder_checkpoint").glob("*/q_embedder_checkpoint"))[-1]
    assert all(torch.equal(a, b) for a, b in zip(checkpoint.weights.values(), load_checkpoint(second).weights.values(), strict=True))


def test_kedro_run_pipeline_train_q_from_the_command_line(project_copy: Path) -> None:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}
    kedro = [sys.executable, "-m", "kedro", "run", "--env", "tiny"]
    subprocess.run([*kedro, "--pipelines", "data_prep"], check=True, env=env, capture_output=True)
    done = subprocess.run([*kedro, "--pipeline", "train_q"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((project_copy / "data/06_models/q_embedder_checkpoint").glob("*/q_embedder_checkpoint/model.safetensors"))

    bad = subprocess.run([*kedro, "--pipeline", "train_q", "--params", "train_q.learning.learnin_rate=0.1"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "Error: unknown learner parameters ['learnin_rate']" in bad.stderr
    assert "Traceback" not in bad.stderr
