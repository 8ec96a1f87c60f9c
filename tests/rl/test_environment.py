"""The retrieval environment: rewards, episode ends and resets as docs/method.md says."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qrag_pipeline.builders.babilong import babilong_sampler
from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.rl.environment import RetrievalEnv
from qrag_pipeline.sources.babi_files import BabiSample

CHUNKS = [f"Sentence {i}." for i in range(10)]


def _fixed(support: list[int], n_chunks: int = 10) -> EpisodeSampler:
    """Always the same episode, with supporting facts at `support`."""
    episode = Episode("e", "test", "qa2", "train", "Q?", "A", CHUNKS[:n_chunks], support)
    return lambda rng: episode


def _env(support: list[int], n_chunks: int = 10, **options: Any) -> RetrievalEnv:
    options = {"max_steps": 6, "seed": 0, **options}
    return RetrievalEnv(_fixed(support, n_chunks), num_envs=1, **options)


def _play(env: RetrievalEnv, actions: list[int]) -> tuple[list[float], list[bool]]:
    rewards, dones = [], []
    for action in actions:
        result = env.step([action])
        rewards.append(float(result.rewards[0]))
        dones.append(bool(result.dones[0]))
    return rewards, dones


def test_finding_both_facts_in_two_picks_pays_one_on_the_second() -> None:
    rewards, dones = _play(_env([2, 7]), [7, 2])
    assert rewards == [0.0, 1.0]
    assert dones == [False, True]


def test_finding_them_late_pays_less() -> None:
    rewards, dones = _play(_env([2, 7]), [0, 2, 5, 7])
    assert rewards == [0.0, 0.0, 0.0, pytest.approx(0.5 + 0.5 * 2 / 4)]
    assert dones == [False, False, False, True]


def test_per_fact_reward_is_added_for_every_new_fact() -> None:
    rewards, _ = _play(_env([2, 7], per_fact_reward=0.25), [2, 0, 7])
    assert rewards == [0.25, 0.0, pytest.approx(0.25 + 0.5 + 0.5 * 2 / 3)]


def test_without_terminate_on_success_the_bonus_is_paid_once_and_play_goes_on() -> None:
    rewards, dones = _play(_env([2, 7], terminate_on_success=False, max_steps=4), [2, 7, 0, 1])
    assert rewards == [0.0, 1.0, 0.0, 0.0]
    assert dones == [False, False, False, True]


def test_an_extra_step_penalty_takes_one_more_pick_after_success_and_charges_it() -> None:
    rewards, dones = _play(_env([2, 7], extra_step_penalty=0.1), [7, 2, 4])
    assert rewards == [0.0, 1.0, pytest.approx(-0.1)]
    assert dones == [False, False, True]
    # without terminate_on_success every later pick is charged, to max_steps
    rewards, dones = _play(
        _env([2, 7], extra_step_penalty=0.1, terminate_on_success=False, max_steps=4), [7, 2, 4, 5]
    )
    assert rewards == [0.0, 1.0, pytest.approx(-0.1), pytest.approx(-0.1)]
    assert dones == [False, False, False, True]
    # success on the last allowed pick ends there: no extra pick is left
    rewards, dones = _play(_env([2, 7], extra_step_penalty=0.1, max_steps=2), [7, 2])
    assert rewards == [0.0, 1.0] and dones == [False, True]


def test_max_steps_ends_a_failed_episode_without_reward() -> None:
    env = _env([2, 7], max_steps=3)
    result = None
    for action in [0, 1, 2]:
        result = env.step([action])
    assert result is not None and bool(result.dones[0]) and float(result.rewards[0]) == 0.0
    (outcome,) = result.finished
    assert outcome.retrieved == (0, 1, 2) and outcome.support == (2, 7)
    assert not outcome.fact_em and outcome.episode_return == 0.0


def test_an_episode_ends_when_no_chunk_is_left() -> None:
    rewards, dones = _play(_env([2], n_chunks=3, terminate_on_success=False), [2, 0, 1])
    assert rewards == [1.0, 0.0, 0.0]
    assert dones == [False, False, True]


def test_done_envs_are_reset_and_report_their_outcome() -> None:
    env = _env([2, 7])
    env.step([2])
    assert env.progress[0].retrieved == [2]
    result = env.step([7])
    assert result.finished[0].fact_em and result.finished[0].episode_return == 1.0
    assert result.finished[0].retrieved == (2, 7)
    assert env.progress[0].retrieved == [] and env.progress[0].available.all()


def test_picking_an_unavailable_chunk_raises() -> None:
    env = _env([2, 7])
    env.step([3])
    with pytest.raises(ValueError, match="chunk 3 is not available"):
        env.step([3])
    with pytest.raises(ValueError, match="chunk 10 is not available"):
        env.step([10])


def test_an_episode_without_support_is_refused() -> None:
    with pytest.raises(QragInputError, match="no supporting-fact ids"):
        _env([])


def _babi_samples() -> list[BabiSample]:
    return [
        BabiSample(
            "qa1",
            story,
            (f"Mary went to room {story}.", "John slept."),
            "Where is Mary?",
            f"room {story}",
            (0,),
        )
        for story in range(5)
    ]


DOCUMENTS = {"book": [f"Background sentence number {i}." for i in range(500)]}


def test_every_reset_draws_fresh_distractors() -> None:
    env = RetrievalEnv(babilong_sampler(_babi_samples(), DOCUMENTS, 12), 1, 1, seed=3)
    documents = []
    for _ in range(5):
        documents.append(tuple(env.progress[0].episode.chunks))
        env.step([0])
    assert len(set(documents)) == 5
    distractor_sets = [{c for c in d if c.startswith("Background")} for d in documents]
    assert all(len(s) == 10 for s in distractor_sets)
    assert all(a != b for a, b in zip(distractor_sets, distractor_sets[1:], strict=False))


def test_the_same_seed_gives_the_same_episodes_and_another_seed_others() -> None:
    def episodes(seed: int) -> list[tuple[str, ...]]:
        env = RetrievalEnv(babilong_sampler(_babi_samples(), DOCUMENTS, 12), 3, 1, seed=seed)
        seen = [tuple(p.episode.chunks) for p in env.progress]
        env.step([0, 0, 0])
        return seen + [tuple(p.episode.chunks) for p in env.progress]

    assert episodes(1) == episodes(1)
    assert episodes(1) != episodes(2)


def test_the_babilong_sampler_keeps_supporting_facts_findable() -> None:
    env = RetrievalEnv(babilong_sampler(_babi_samples(), DOCUMENTS, 12), 1, 6, seed=0)
    episode = env.progress[0].episode
    (fact,) = episode.support
    assert episode.chunks[fact].startswith("Mary went to room")
    result = env.step([fact])
    assert result.finished[0].fact_em and float(result.rewards[0]) == 1.0


def test_babilong_sampler_refuses_stories_that_do_not_fit() -> None:
    with pytest.raises(QragInputError, match="no training story fits in 1 sentences"):
        babilong_sampler(_babi_samples(), DOCUMENTS, 1)


def _misses(env: RetrievalEnv) -> list[int]:
    """For each env, its first available chunk that is not a supporting fact."""
    return [
        next(i for i in np.flatnonzero(p.available).tolist() if i not in p.episode.support)
        for p in env.progress
    ]


def test_state_dict_resumes_the_same_episodes() -> None:
    env = RetrievalEnv(babilong_sampler(_babi_samples(), DOCUMENTS, 12), 2, 3, seed=0)
    first = _misses(env)
    env.step(first)
    copy = RetrievalEnv(babilong_sampler(_babi_samples(), DOCUMENTS, 12), 2, 3, seed=99)
    copy.load_state_dict(env.state_dict())
    assert [p.retrieved for p in copy.progress] == [[a] for a in first]
    finished = 0
    for _ in range(4):
        actions = _misses(env)
        a, b = env.step(actions), copy.step(actions)
        np.testing.assert_array_equal(a.rewards, b.rewards)
        assert a.finished == b.finished
        finished += len(a.finished)
    assert finished == 2
    assert [p.episode for p in copy.progress] == [p.episode for p in env.progress]
