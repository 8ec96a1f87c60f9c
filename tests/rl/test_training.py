"""End to end: a tiny random encoder learns qa1 retrieval from the reward alone."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from qrag_pipeline.builders.babilong import DistractorStream, babilong_sampler, build_babilong_episode
from qrag_pipeline.episodes import Episode
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.rl.config import QLearningConfig
from qrag_pipeline.rl.inference import fact_em_rate, greedy_rollout
from qrag_pipeline.rl.learner import QLearner, train
from qrag_pipeline.seeding import rng_for
from qrag_pipeline.sources.babi_generator import generate_babi_samples

N_SENTENCES = 20
MAX_STEPS = 3


def _held_out(documents: dict[str, list[str]]) -> list[Episode]:
    """Unseen stories in distractor text of an unseen vocabulary."""
    stream = DistractorStream(documents)
    return [
        build_babilong_episode(sample, stream, N_SENTENCES, rng_for(1, "held-out", i), f"held-out/{i}", "t")
        for i, sample in enumerate(generate_babi_samples("qa1", 12, seed=123))
    ]


def _random_fact_em(episodes: list[Episode], steps: int) -> float:
    """Expected fact EM of `steps` distinct uniform picks: C(n-s, k-s) / C(n, k)."""
    rates = [
        math.comb(len(e.chunks) - len(e.support), steps - len(e.support)) / math.comb(len(e.chunks), steps)
        for e in episodes
    ]
    return sum(rates) / len(rates)


def test_a_tiny_model_learns_qa1_retrieval_far_beyond_random(
    make_tiny_network: Callable[..., QNetwork],
    train_prose: dict[str, list[str]],
    held_out_prose: dict[str, list[str]],
) -> None:
    held_out = _held_out(held_out_prose)
    network = make_tiny_network(seed=0)
    untrained = fact_em_rate(held_out, greedy_rollout(network, held_out, MAX_STEPS))
    config = QLearningConfig(
        learning_rate=3e-3,
        warmup_updates=3,
        total_updates=30,
        learning_start=5,
        max_steps=MAX_STEPS,
        eval_every=30,
        eval_episodes=len(held_out),
    )
    sampler = babilong_sampler(generate_babi_samples("qa1", 100, seed=7), train_prose, N_SENTENCES)
    learner = QLearner(network, sampler, config, torch.device("cpu"))
    history = train(learner, held_out)
    trained = history[-1]["eval_fact_em"]
    assert len(history) == 30 and all(math.isfinite(m["loss"]) for m in history)
    assert _random_fact_em(held_out, MAX_STEPS) == pytest.approx(0.15)
    assert trained >= 0.5
    assert trained > untrained + 0.3
