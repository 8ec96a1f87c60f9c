"""The RULER needle-in-a-haystack builder's invariants."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from qrag_pipeline.builders.babilong import DistractorStream
from qrag_pipeline.builders.ruler import (
    NIAH_TASKS,
    NOISE_SENTENCES,
    NiahTask,
    build_niah_episode,
    build_niah_episodes,
    check_niah_task,
    niah_sampler,
)
from qrag_pipeline.episodes import (
    Episode,
    approx_token_count,
    episodes_from_frame,
    episodes_to_frame,
)
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.metrics import niah_all_found, niah_values_found
from qrag_pipeline.sources.prose_generator import generate_prose

ESSAY = generate_prose(3, 40, seed=11)
POOL = [s for name in sorted(ESSAY) for s in ESSAY[name]]
SMALL_BUCKETS = {"tiny": 30, "small": 80}

NEEDLE = re.compile(r"^One of the special magic (numbers|uuids) for (\S+) is: (\S+)\.$")
QUESTION = re.compile(
    r"^What are all the special magic (numbers|uuids) for (.+) mentioned in the provided text\?$"
)
KEY_PATTERNS = {
    "words": re.compile(r"^[a-z]+-[a-z]+$"),
    "uuids": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
}
VALUE_PATTERNS = {"numbers": re.compile(r"^[1-9][0-9]{6}$"), "uuids": KEY_PATTERNS["uuids"]}


def _episode(task: str, n_sentences: int = 60, seed: int = 1) -> Episode:
    return build_niah_episode(
        task, n_sentences, DistractorStream(ESSAY), np.random.default_rng(seed), "e", "1k"
    )


def _needles(episode: Episode) -> dict[int, tuple[str, str, str]]:
    """Chunk index -> (value noun, key, value) for every chunk that mentions a needle."""
    found: dict[int, tuple[str, str, str]] = {}
    for index, chunk in enumerate(episode.chunks):
        if "special magic" in chunk:
            match = NEEDLE.match(chunk)
            assert match, f"chunk {index} holds a needle but is not exactly one: {chunk!r}"
            found[index] = match.groups()
    return found


def _asked_keys(question: str) -> list[str]:
    match = QUESTION.match(question)
    assert match, question
    return re.split(r", | and ", match.group(2))


def test_the_eight_tasks_are_those_of_the_benchmark_table() -> None:
    expected = {
        "niah_single_1": ("noise", "words", "numbers", 1, 1, 1),
        "niah_single_2": ("essay", "words", "numbers", 1, 1, 1),
        "niah_single_3": ("essay", "words", "uuids", 1, 1, 1),
        "niah_multikey_1": ("essay", "words", "numbers", 4, 1, 1),
        "niah_multikey_2": ("needle", "words", "numbers", 1, 1, 1),
        "niah_multikey_3": ("needle", "uuids", "uuids", 1, 1, 1),
        "niah_multivalue": ("essay", "words", "numbers", 1, 4, 1),
        "niah_multiquery": ("essay", "words", "numbers", 4, 1, 4),
    }
    assert {name: NiahTask(*spec) for name, spec in expected.items()} == NIAH_TASKS
    assert check_niah_task("niah_multivalue").n_needles == 4


@pytest.mark.parametrize("task", list(NIAH_TASKS))
def test_needles_keys_values_and_support(task: str) -> None:
    spec = NIAH_TASKS[task]
    episode = _episode(task)
    needles = _needles(episode)
    assert len(episode.chunks) == 60
    assert (episode.benchmark, episode.task, episode.length_bucket) == ("ruler", task, "1k")
    assert episode.n_tokens == approx_token_count(episode.chunks)

    assert {noun for noun, _, _ in needles.values()} == {spec.value_type}
    keys = [key for _, key, _ in needles.values()]
    values = [value for _, _, value in needles.values()]
    assert all(KEY_PATTERNS[spec.key_type].match(key) for key in keys)
    assert all(VALUE_PATTERNS[spec.value_type].match(value) for value in values)
    assert len(set(values)) == len(values)
    if spec.haystack == "needle":
        assert len(needles) == 60 and len(set(keys)) == 60
    else:
        assert len(needles) == spec.n_keys * spec.n_values
        assert sorted(keys.count(key) for key in set(keys)) == [spec.n_values] * spec.n_keys

    asked = _asked_keys(episode.question)
    assert len(asked) == len(set(asked)) == spec.n_queries
    assert episode.support == sorted(episode.support)
    assert len(episode.support) == spec.n_queries * spec.n_values
    assert episode.support == [i for i, (_, key, _) in needles.items() if key in asked]
    assert episode.answer == ", ".join(needles[i][2] for i in episode.support)


@pytest.mark.parametrize("task", list(NIAH_TASKS))
def test_the_answer_is_recoverable_from_the_support_and_only_from_all_of_it(task: str) -> None:
    episode = _episode(task, seed=2)
    assert niah_values_found(episode, episode.support) == 1.0
    assert niah_all_found(episode, episode.support) == 1.0
    n_gold = len(episode.support)
    for dropped in episode.support:
        rest = [i for i in episode.support if i != dropped]
        assert niah_values_found(episode, rest) == pytest.approx((n_gold - 1) / n_gold)
        assert niah_all_found(episode, rest) == 0.0
    others = [i for i in range(len(episode.chunks)) if i not in episode.support]
    assert niah_values_found(episode, others) == 0.0


@pytest.mark.parametrize("task", list(NIAH_TASKS))
def test_the_haystack_is_of_the_task_kind(task: str) -> None:
    episode = _episode(task, seed=3)
    needles = _needles(episode)
    haystack = [c for i, c in enumerate(episode.chunks) if i not in needles]
    kind = NIAH_TASKS[task].haystack
    if kind == "noise":
        assert haystack == [NOISE_SENTENCES[i % len(NOISE_SENTENCES)] for i in range(len(haystack))]
    elif kind == "essay":
        start = POOL.index(haystack[0])
        assert haystack == [POOL[(start + k) % len(POOL)] for k in range(len(haystack))]
    else:
        assert haystack == []


def test_needles_go_at_varied_depths() -> None:
    depths = [_episode("niah_single_1", 100, seed).support[0] for seed in range(30)]
    assert len(set(depths)) > 15
    assert min(depths) < 30 and max(depths) > 70


def test_multiquery_asks_four_keys_in_one_sentence() -> None:
    question = _episode("niah_multiquery").question
    assert re.fullmatch(
        r"What are all the special magic numbers for [a-z-]+, [a-z-]+, [a-z-]+ and [a-z-]+ "
        r"mentioned in the provided text\?",
        question,
    )


def test_episode_sets_are_deterministic_unique_and_survive_parquet(tmp_path) -> None:
    tasks = ["niah_single_1", "niah_multikey_3", "niah_multiquery"]

    def build(seed: int, chosen: list[str] = tasks) -> list[Episode]:
        return build_niah_episodes(chosen, ESSAY, ["tiny", "small"], 3, seed, SMALL_BUCKETS)

    first, again, other = build(7), build(7), build(8)
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))
    assert len(first) == 3 * 2 * 3
    assert len({e.id for e in first}) == len(first)
    assert "ruler-niah_multikey_3-small-2" in {e.id for e in first}
    assert {(e.length_bucket, len(e.chunks)) for e in first} == {("tiny", 30), ("small", 80)}
    assert [e for e in first if e.task == "niah_multiquery"] == build(7, ["niah_multiquery"])
    path = tmp_path / "ruler.parquet"
    episodes_to_frame(first).to_parquet(path)
    assert episodes_from_frame(pd.read_parquet(path)) == first


def test_noise_and_needle_tasks_need_no_essay() -> None:
    episodes = build_niah_episodes(["niah_single_1", "niah_multikey_2"], None, ["tiny"], 2, 0, SMALL_BUCKETS)
    assert [len(e.chunks) for e in episodes] == [30] * 4


def test_unknown_task_is_named_with_the_known_ones() -> None:
    with pytest.raises(QragInputError, match=r"'niah_single_9'.*niah_multiquery"):
        check_niah_task("niah_single_9")
    with pytest.raises(QragInputError, match="'niah_single_9'"):
        build_niah_episodes(["niah_single_9"], ESSAY, ["tiny"], 1, 0, SMALL_BUCKETS)


def test_too_short_documents_are_refused() -> None:
    with pytest.raises(QragInputError, match="niah_multivalue hides 4 needle sentences"):
        _episode("niah_multivalue", 3)
    with pytest.raises(QragInputError, match="document of 3 sentences"):
        build_niah_episodes(["niah_multiquery"], ESSAY, ["tiny"], 1, 0, {"tiny": 3})
    with pytest.raises(QragInputError, match="episodes_per_task_length is 0"):
        build_niah_episodes(["niah_single_1"], ESSAY, ["tiny"], 0, 0, SMALL_BUCKETS)
    assert len(_episode("niah_multivalue", 4).chunks) == 4


def test_essay_tasks_without_essay_text_are_refused() -> None:
    with pytest.raises(QragInputError, match="niah_single_2 hides its needles in essay text"):
        build_niah_episode("niah_single_2", 60, None, np.random.default_rng(0), "e", "1k")
    with pytest.raises(QragInputError, match="niah_multikey_1 hides its needles in essay"):
        build_niah_episodes(["niah_single_1", "niah_multikey_1"], None, ["tiny"], 1, 0, SMALL_BUCKETS)
    with pytest.raises(QragInputError, match="niah_multivalue hides its needles in essay"):
        niah_sampler(["niah_multivalue"], None, 40)


def test_word_keys_beyond_the_pairs_available_are_refused() -> None:
    with pytest.raises(QragInputError, match="adjective-noun pairs exist"):
        build_niah_episode("niah_multikey_2", 100_000, None, np.random.default_rng(0), "e", "x")


def test_the_sampler_draws_varied_episodes_reproducibly() -> None:
    sampler = niah_sampler(list(NIAH_TASKS), ESSAY, 40)

    def draw(seed: int) -> list[Episode]:
        rng = np.random.default_rng(seed)
        return [sampler(rng) for _ in range(24)]

    episodes = draw(5)
    assert episodes == draw(5)
    assert episodes != draw(6)
    assert len({e.task for e in episodes}) >= 5
    assert len({e.question for e in episodes}) == 24
    assert all(len(e.chunks) == 40 and e.length_bucket == "train" for e in episodes)
    essay_starts = {
        next(c for c in e.chunks if "special magic" not in c)
        for e in episodes
        if NIAH_TASKS[e.task].haystack == "essay"
    }
    assert len(essay_starts) > 3
    with pytest.raises(QragInputError, match="no RULER training task"):
        niah_sampler([], ESSAY, 40)
    with pytest.raises(QragInputError, match="document of 2 sentences"):
        niah_sampler(["niah_multiquery"], ESSAY, 2)


@pytest.mark.parametrize("task", ["niah_single_2", "niah_multikey_2"])
def test_a_1m_bucket_episode_builds(task: str) -> None:
    """The essay window wraps around a small pool (with a warning): the size is the point,
    and the needle haystack needs a distinct word key for each of its 40,000 needles."""
    essay = generate_prose(4, 250, seed=3)
    (episode,) = build_niah_episodes([task], essay, ["1M"], 1, 0)
    assert len(episode.chunks) == 40_000
    assert len(episode.support) == 1
    assert niah_all_found(episode, episode.support) == 1.0
    if task == "niah_multikey_2":
        assert len({NEEDLE.match(c).group(2) for c in episode.chunks}) == 40_000
