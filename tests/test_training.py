"""Training runs: checkpoints every N updates, exact resume, curves, parameter errors."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.config import OmegaConfigLoader

from qrag_pipeline.api import QRetriever
from qrag_pipeline.checkpoints import load_checkpoint, save_checkpoint
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.episodes import episodes_to_frame
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.locks import LOCK_FILE
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.pipelines.train_q.nodes import train_q_embedder_node
from qrag_pipeline.pools import documents_to_frame, samples_to_frame
from qrag_pipeline.retrieval.embeddings import embed_texts
from qrag_pipeline.rl.config import learning_config
from qrag_pipeline.rl.inference import ALL_BENCHMARKS
from qrag_pipeline.rl.learner import QLearner
from qrag_pipeline.settings import CONFIG_LOADER_ARGS
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.training import (
    CURVE_COLUMNS,
    latest_checkpoint,
    run_training,
)
from qrag_pipeline.training_data import TrainingPools, babilong_training_data, training_pool_texts
from qrag_pipeline.training_data import training_data as mixed_training_data
from tests.conftest import PROJECT_ROOT, TINY_LEARNING, toy_paragraph_episodes, train_tiny

LEARNING = replace(TINY_LEARNING, total_updates=6, num_steps=3, eval_episodes=4)


@pytest.fixture
def training_data():
    samples = generate_babi_samples("qa1", 20, seed=1)
    return babilong_training_data(samples, generate_prose(2, 60, seed=2), ["qa1"], 12, 4, seed=3)


def _run(make_tiny_network, training_data, run_dir: Path | None):
    torch.manual_seed(0)
    return train_tiny(make_tiny_network, training_data, run_dir, LEARNING)


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
    for (name, a), b in zip(
        reference.network.state_dict().items(), resumed.network.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name
    timeless = [c for c in CURVE_COLUMNS if c != "updates_per_s"]  # wall-clock differs
    assert resumed.curves[timeless].equals(reference.curves[timeless])
    assert [p.name for p in sorted(tmp_path.iterdir()) if p.name != LOCK_FILE] == [
        "update-00000004",
        "update-00000006",
    ]


def test_the_train_q_node_and_a_benchmark_train_through_the_same_entry_point(
    one_torch_thread: None,
) -> None:
    """The node's run (frames in) and `run_training`'s (the core types a benchmark
    builds) on the same parameters and pools end with the same weights, bit for bit."""
    parameters = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env="tiny", **CONFIG_LOADER_ARGS)["parameters"]
    learning = {**parameters["train_q"]["learning"], "total_updates": 2, "eval_every": 1}
    train_q = {**parameters["train_q"], "tasks": ["qa1"], "resume": False, "learning": learning}
    samples, documents = generate_babi_samples("qa1", 20, seed=1), generate_prose(2, 60, seed=2)
    encoder = TextEncoder.from_pretrained(**parameters["embed"]["encoder"])
    pool = embed_texts(encoder, training_pool_texts(samples, documents), "float32", progress=False)

    torch.manual_seed(0)
    checkpoint, curves = train_q_embedder_node(
        samples_to_frame(samples), documents_to_frame(documents), episodes_to_frame([]), pool, train_q
    )
    torch.manual_seed(0)
    result = run_training(train_q, TrainingPools(samples, documents), pool, run_dir=None)

    assert checkpoint.weights.keys() == result.checkpoint.weights.keys()
    for name, weight in checkpoint.weights.items():
        assert torch.equal(weight, result.checkpoint.weights[name]), name
    assert checkpoint.stop_thresholds == result.checkpoint.stop_thresholds
    timeless = [c for c in CURVE_COLUMNS if c != "updates_per_s"]
    assert curves[timeless].equals(result.curves[timeless])


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


def test_the_mixture_draws_each_task_in_proportion_to_its_weight() -> None:
    samples = [s for task in ("qa1", "qa2") for s in generate_babi_samples(task, 30, seed=1)]
    prose = generate_prose(2, 200, seed=2)
    tasks = ["qa1", "qa2", "niah_single_1", "niah_multikey_3"]
    weights = {"qa2": 3, "niah_single_1": 0.5, "hotpotqa": 2}  # hotpotqa: known, not trained
    sampler, validation = mixed_training_data(tasks, samples, prose, [], [12, 40], 3, 0, weights)
    rng = np.random.default_rng(0)
    drawn = Counter(sampler(rng).task for _ in range(3000))
    total = 1 + 3 + 0.5 + 1
    for task, weight in {"qa1": 1, "qa2": 3, "niah_single_1": 0.5, "niah_multikey_3": 1}.items():
        assert drawn[task] / 3000 == pytest.approx(weight / total, abs=0.025), task
    # validation episodes take turns, so any first n of them cover every task
    assert [e.task for e in validation[:4]] == tasks and len(validation) == 12


def test_validation_chunks_are_pool_texts_but_the_needles_asked_about() -> None:
    """Validation is looked up in the embedded pools: a needle haystack's thousands of
    distractor needles must come from the training filler, not be fresh ones."""
    samples = generate_babi_samples("qa3", 20, seed=1)
    prose = generate_prose(2, 300, seed=2)
    tasks = ["qa3", "niah_multikey_2", "niah_multikey_3", "niah_multivalue"]
    _, validation = mixed_training_data(tasks, samples, prose, [], [40, 120], 3, 0)
    pool = set(training_pool_texts(samples, prose))
    for episode in validation:
        unseen = {chunk for chunk in episode.chunks if chunk not in pool}
        asked = {episode.chunks[i] for i in episode.support} if episode.task != "qa3" else set()
        assert unseen == asked, episode.task
        assert len(episode.chunks) == 120


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"qa7": 1}, r"unknown tasks \['qa7'\]"),
        ({"qa1": 0}, r"not positive numbers \{'qa1': 0\}"),
        ({"qa1": "x"}, "not positive numbers"),
    ],
)
def test_bad_task_weights_are_one_clear_error(weights, message) -> None:
    samples = generate_babi_samples("qa1", 10, seed=1)
    with pytest.raises(QragInputError, match=message + ".*Fix: give positive weights"):
        mixed_training_data(["qa1"], samples, generate_prose(1, 40, seed=2), [], 12, 2, 0, weights)


def test_the_learned_stop_thresholds_are_chosen_on_validation_and_round_trip(
    make_tiny_network, training_data, tmp_path: Path
) -> None:
    result = _run(make_tiny_network, training_data, None)
    thresholds = result.checkpoint.stop_thresholds
    assert set(thresholds) == {"babilong", ALL_BENCHMARKS}
    assert all(isinstance(v, float) for v in thresholds.values())
    save_checkpoint(result.checkpoint, tmp_path / "ck")
    assert load_checkpoint(tmp_path / "ck").stop_thresholds == thresholds
    retriever = QRetriever.from_checkpoint(tmp_path / "ck")
    assert retriever.stop_threshold == thresholds[ALL_BENCHMARKS]


SELECTING = replace(LEARNING, eval_every=2, total_updates=8)


def _selecting_run(make_tiny_network, training_data, run_dir: Path | None):
    torch.manual_seed(0)
    return train_tiny(
        make_tiny_network, training_data, run_dir, SELECTING, select_best=True, keep_checkpoints=10
    )


def test_select_best_keeps_the_weights_of_the_best_validation_evaluation(
    make_tiny_network, training_data, tmp_path: Path, one_torch_thread: None
) -> None:
    result = _selecting_run(make_tiny_network, training_data, tmp_path)
    curve = result.curves.set_index("update").eval_fact_em
    selected = result.checkpoint.training_state["selected_update"]
    assert selected == curve.idxmax()  # the earliest of the best
    # the run's checkpoint of that update holds the weights the result has
    at_selected = load_checkpoint(tmp_path / f"update-{selected:08d}").weights
    for name, weight in result.checkpoint.weights.items():
        assert torch.equal(weight, at_selected[name]), name
    if selected != SELECTING.total_updates:
        last = load_checkpoint(latest_checkpoint(tmp_path)).weights
        assert any(not torch.equal(w, last[k]) for k, w in result.checkpoint.weights.items())


def test_select_best_survives_a_resume(
    make_tiny_network, training_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread: None
) -> None:
    reference = _selecting_run(make_tiny_network, training_data, None)
    update = QLearner.update

    def crash_at_update_7(self: QLearner) -> dict:
        if self.updates == 6:  # evaluations at 2, 4, 6 are behind the checkpoint at 6
            raise KeyboardInterrupt
        return update(self)

    monkeypatch.setattr(QLearner, "update", crash_at_update_7)
    with pytest.raises(KeyboardInterrupt):
        _selecting_run(make_tiny_network, training_data, tmp_path)
    monkeypatch.setattr(QLearner, "update", update)
    resumed = _selecting_run(make_tiny_network, training_data, tmp_path)

    selected = reference.checkpoint.training_state["selected_update"]
    assert resumed.checkpoint.training_state["selected_update"] == selected
    for name, weight in reference.checkpoint.weights.items():
        assert torch.allclose(weight, resumed.checkpoint.weights[name], atol=1e-6), name


def test_hotpotqa_training_draws_fresh_mixes_of_the_training_paragraphs() -> None:
    episodes = toy_paragraph_episodes(8, 3, [0, 2])
    sampler, validation = mixed_training_data(["hotpotqa"], [], {}, episodes, 12, 2, 0, None, 4)
    assert validation == episodes[-2:]  # validation stays as built
    pool = set(training_pool_texts([], {}, episodes))
    drawn = [sampler(np.random.default_rng(seed)) for seed in range(40)]
    assert {len(e.chunks) for e in drawn} == {3, 4, 5, 6, 7}
    assert all(set(e.chunks) <= pool for e in drawn)  # every chunk has a pool embedding
    assert not {e.id for e in drawn} & {f"{v.id}/mix" for v in validation}
