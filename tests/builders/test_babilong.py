"""The BabiLong episode builder's invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qrag_pipeline.builders.babilong import (
    DEFAULT_LENGTH_BUCKETS,
    DistractorStream,
    bucket_size,
    build_babilong_episode,
    build_babilong_episodes,
)
from qrag_pipeline.episodes import episodes_from_frame, episodes_to_frame
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babi_files import BabiSample

DOCUMENTS = {
    "b": [f"Book b sentence {i}." for i in range(300)],
    "a": [f"Book a sentence {i}." for i in range(200)],
}


def _sample(n_facts: int, support: tuple[int, ...], task: str = "qa2", story: int = 0) -> BabiSample:
    facts = tuple(f"Fact {story}-{i} happened." for i in range(n_facts))
    return BabiSample(task, story, facts, "Where is the milk?", "hallway", support)


def test_facts_keep_order_support_is_remapped_and_length_is_met() -> None:
    sample = _sample(12, (9, 3))
    episode = build_babilong_episode(
        sample, DistractorStream(DOCUMENTS), 160, np.random.default_rng(0), "e0", "4k"
    )
    assert len(episode.chunks) == 160
    fact_chunks = [c for c in episode.chunks if c.startswith("Fact ")]
    assert fact_chunks == list(sample.facts)
    assert episode.support == sorted(episode.support)
    assert [episode.chunks[i] for i in episode.support] == [sample.facts[3], sample.facts[9]]
    assert episode.n_tokens > 160 * 4
    assert (episode.benchmark, episode.task, episode.length_bucket) == ("babilong", "qa2", "4k")


def test_distractors_are_one_contiguous_stretch_of_the_pool() -> None:
    stream = DistractorStream(DOCUMENTS)
    episode = build_babilong_episode(_sample(5, (0,)), stream, 50, np.random.default_rng(3), "e", "1k")
    distractors = [c for c in episode.chunks if not c.startswith("Fact ")]
    pool = [s for name in sorted(DOCUMENTS) for s in DOCUMENTS[name]]
    start = pool.index(distractors[0])
    assert distractors == [pool[(start + k) % len(pool)] for k in range(45)]


def test_a_story_that_fills_the_bucket_has_no_distractors_and_a_longer_one_fails() -> None:
    stream = DistractorStream(DOCUMENTS)
    full = build_babilong_episode(_sample(50, (49,)), stream, 50, np.random.default_rng(0), "e", "1k")
    assert full.support == [49] and all(c.startswith("Fact ") for c in full.chunks)
    with pytest.raises(QragInputError, match="51 facts, more than the 50 sentences"):
        build_babilong_episode(_sample(51, (0,)), stream, 50, np.random.default_rng(0), "e", "1k")


def _samples_by_task() -> dict[str, list[BabiSample]]:
    return {
        "qa1": [_sample(2 + i % 7, (1,), "qa1", i) for i in range(30)],
        "qa3": [_sample(20 + 3 * i, (0, 5, 19), "qa3", i) for i in range(30)],
    }


def test_episode_sets_are_deterministic_in_the_seed_and_survive_parquet(tmp_path) -> None:
    def build(seed: int):
        return build_babilong_episodes(_samples_by_task(), DOCUMENTS, ["1k", "4k"], 6, seed)

    first, again, other = build(7), build(7), build(8)
    assert first == again
    assert first != other
    path = tmp_path / "episodes.parquet"
    episodes_to_frame(first).to_parquet(path)
    assert episodes_from_frame(pd.read_parquet(path)) == first


def test_each_length_takes_the_first_shuffled_questions_whose_story_fits(caplog) -> None:
    episodes = build_babilong_episodes(_samples_by_task(), DOCUMENTS, ["1k", "4k"], 6, 0)
    by_key: dict[tuple[str, str], list] = {}
    for episode in episodes:
        by_key.setdefault((episode.task, episode.length_bucket), []).append(episode)
    assert {k: len(v) for k, v in by_key.items()} == {
        ("qa1", "1k"): 6,
        ("qa1", "4k"): 6,
        ("qa3", "1k"): 6,
        ("qa3", "4k"): 6,
    }
    # qa1 stories fit both buckets: the same questions recur, paired across lengths
    facts_1k = [[e.chunks[i] for i in e.support] for e in by_key[("qa1", "1k")]]
    facts_4k = [[e.chunks[i] for i in e.support] for e in by_key[("qa1", "4k")]]
    assert facts_1k == facts_4k
    # qa3 stories of 20..107 facts: only those of <= 50 facts go into 1k (there are 11)
    assert all(len([c for c in e.chunks if c.startswith("Fact")]) <= 50 for e in by_key[("qa3", "1k")])
    few = build_babilong_episodes(_samples_by_task(), DOCUMENTS, ["1k"], 20, 0)
    assert sum(e.task == "qa3" for e in few) == 11
    assert "only 11 of the requested 20" in caplog.text


def test_bad_buckets_counts_and_pools_are_refused() -> None:
    assert bucket_size("1M") == 40000 == DEFAULT_LENGTH_BUCKETS["1M"]
    with pytest.raises(QragInputError, match="unknown length bucket '2k'"):
        build_babilong_episodes(_samples_by_task(), DOCUMENTS, ["2k"], 6, 0)
    with pytest.raises(QragInputError, match="positive whole number"):
        bucket_size("1k", {"1k": -5})
    with pytest.raises(QragInputError, match="episodes_per_task_length"):
        build_babilong_episodes(_samples_by_task(), DOCUMENTS, ["1k"], 0, 0)
    with pytest.raises(QragInputError, match="distractor pool is empty"):
        DistractorStream({"empty": []})
    with pytest.raises(QragInputError, match="no qa3 story fits"):
        build_babilong_episodes({"qa3": [_sample(60, (0,), "qa3")]}, DOCUMENTS, ["1k"], 1, 0)
