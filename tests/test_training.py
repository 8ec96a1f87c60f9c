"""Training runs: checkpoints every N updates, exact resume, curves, parameter errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.rl.learner import QLearner, QLearningConfig
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.training import (
    CURVE_COLUMNS,
    latest_checkpoint,
    learning_config,
    resolve_device,
    train_q_embedder,
)
from qrag_pipeline.training_data import babilong_training_data

LEARNING = QLearningConfig(
    total_updates=6, warmup_updates=1, learning_start=0, learning_rate=3e-3, num_envs=2,
    num_steps=3, max_steps=3, eval_every=2, eval_episodes=4, seed=5,
)


@pytest.fixture
def training_data():
    samples = generate_babi_samples("qa1", 20, seed=1)
    return babilong_training_data(samples, generate_prose(2, 60, seed=2), ["qa1"], 12, 4, seed=3)


def _run(make_tiny_network, training_data, run_dir: Path | None):
    sampler, validation = training_data
    torch.manual_seed(0)
    return train_q_embedder(
        lambda: make_tiny_network(seed=11), LEARNING, sampler, validation, run_dir,
        checkpoint_every=2, device=torch.device("cpu"), progress=False,
    )


def test_an_interrupted_run_resumes_and_ends_like_an_uninterrupted_one(
    make_tiny_network, training_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.set_num_threads(1)
    reference = _run(make_tiny_network, training_data, None)

    update = QLearner.update

    def crash_at_update_4(self: QLearner) -> dict:
        if self.updates == 3:  # checkpoints exist at 2; update 3 is lost with the crash
            raise KeyboardInterrupt
        return update(self)

    monkeypatch.setattr(QLearner, "update", crash_at_update_4)
    with pytest.raises(KeyboardInterrupt):
        _run(make_tiny_network, training_data, tmp_path)
    assert latest_checkpoint(tmp_path).name == "update-00000002"
    monkeypatch.setattr(QLearner, "update", update)

    resumed = _run(make_tiny_network, training_data, tmp_path)
    # same parameters as the uninterrupted run (CPU, one thread: equal to float rounding)
    for (name, a), b in zip(reference.network.state_dict().items(), resumed.network.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    timeless = [c for c in CURVE_COLUMNS if c != "updates_per_s"]  # wall-clock differs
    assert resumed.curves[timeless].equals(reference.curves[timeless])
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["update-00000004", "update-00000006"]


def test_curves_have_one_row_per_eval_interval(make_tiny_network, training_data) -> None:
    curves = _run(make_tiny_network, training_data, None).curves
    assert list(curves.columns) == list(CURVE_COLUMNS)
    assert curves["update"].tolist() == [2, 4, 6]
    assert curves.eval_fact_em.between(0, 1).all() and (curves.updates_per_s > 0).all()


def test_bad_training_parameters_are_named() -> None:
    with pytest.raises(QragInputError, match=r"unknown learner parameters \['learnin_rate'\]"):
        learning_config({"learnin_rate": 1e-4})
    with pytest.raises(QragInputError, match="must be positive"):
        learning_config({"total_updates": 0})
    with pytest.raises(QragInputError, match="unknown device 'tpu9'"):
        resolve_device("tpu9")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    samples = generate_babi_samples("qa1", 2, seed=0)
    with pytest.raises(QragInputError, match=r"too few questions for tasks \['qa2'\]"):
        babilong_training_data(samples, generate_prose(1, 20, seed=0), ["qa1", "qa2"], 12, 4, 0)


def test_held_out_stories_longer_than_the_training_documents_name_the_setting() -> None:
    samples = generate_babi_samples("qa2", 40, seed=1)
    assert min(len(s.facts) for s in samples) > 1  # a qa2 story has two facts at least
    with pytest.raises(QragInputError, match=r"train_q.train_sentences=1 sentences\. Fix: raise"):
        babilong_training_data(samples, generate_prose(1, 20, seed=0), ["qa2"], 1, 4, 0)
