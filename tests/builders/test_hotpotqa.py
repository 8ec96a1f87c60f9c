"""HotpotQA episodes on the real dev sample: both chunkings and the long-context variant."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from qrag_pipeline.builders.hotpotqa import (
    build_hotpotqa_episode,
    build_hotpotqa_episodes,
    build_hotpotqa_long_episodes,
    hotpotqa_sampler,
)
from qrag_pipeline.episodes import Episode, approx_token_count
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.hotpotqa import HotpotRecord, parse_hotpotqa_file
from tests.conftest import toy_paragraph_episodes

DEV_SAMPLE = "hotpotqa/hotpot_dev_distractor_v1.sample.json.gz"

RECORD = HotpotRecord(
    id="q1",
    question="Where was the friend of the painter Alpha born?",
    answer="Paris",
    type="bridge",
    level="hard",
    supporting_facts=[("Beta", 0), ("Alpha", 1)],
    context=[
        ("Alpha", ["Alpha is a painter.", " He  befriended\nBeta."]),
        ("Gamma", ["Gamma is a river.", " "]),
        ("Beta", ["Beta was born in Paris.", ""]),
    ],
)


@pytest.fixture(scope="module")
def dev_records(shared_data: Path) -> list[HotpotRecord]:
    return parse_hotpotqa_file(shared_data / DEV_SAMPLE)


def _normalised(text: str) -> str:
    return " ".join(text.split())


def test_paragraph_chunks_are_title_and_normalised_text() -> None:
    episode = build_hotpotqa_episode(RECORD)
    assert episode.chunks == [
        "Alpha: Alpha is a painter. He befriended Beta.",
        "Gamma: Gamma is a river.",
        "Beta: Beta was born in Paris.",
    ]
    assert episode.support == [0, 2]
    assert (episode.id, episode.benchmark, episode.task, episode.length_bucket) == (
        "hotpotqa/paragraph/q1",
        "hotpotqa",
        "hotpotqa",
        "distractor",
    )
    assert (episode.question, episode.answer) == (RECORD.question, "Paris")
    assert episode.n_tokens == approx_token_count(episode.chunks)


def test_sentence_chunks_skip_blank_sentences_and_support_is_sorted() -> None:
    episode = build_hotpotqa_episode(RECORD, "sentence")
    assert episode.chunks == [
        "Alpha: Alpha is a painter.",
        "Alpha: He befriended Beta.",
        "Gamma: Gamma is a river.",
        "Beta: Beta was born in Paris.",
    ]
    assert episode.support == [1, 3]
    assert episode.id == "hotpotqa/sentence/q1"


def test_an_unknown_chunking_is_an_error() -> None:
    with pytest.raises(QragInputError, match="unknown HotpotQA chunking 'word'"):
        build_hotpotqa_episode(RECORD, "word")
    with pytest.raises(QragInputError, match="unknown HotpotQA chunking 'word'"):
        build_hotpotqa_long_episodes([RECORD], [RECORD], 10, "1k", 0, "word")


@pytest.mark.shared_data
def test_real_paragraph_episodes_hold_both_gold_paragraphs(
    dev_records: list[HotpotRecord],
) -> None:
    episodes = build_hotpotqa_episodes(dev_records)
    assert len({episode.id for episode in episodes}) == len(dev_records) == 1580
    short = 0
    for record, episode in zip(dev_records, episodes, strict=True):
        titles = [title for title, _ in record.context]
        gold = {title for title, _ in record.supporting_facts}
        assert len(episode.chunks) == len(titles), record.id
        assert [titles[i] for i in episode.support] == [t for t in titles if t in gold]
        assert len(episode.support) == 2, record.id
        assert all(_normalised(chunk) == chunk for chunk in episode.chunks), record.id
        short += len(titles) < 10
    assert short == 9


@pytest.mark.shared_data
def test_real_sentence_episodes_support_the_fact_sentences(
    dev_records: list[HotpotRecord],
) -> None:
    for record, episode in zip(dev_records, build_hotpotqa_episodes(dev_records, "sentence"), strict=True):
        paragraphs = dict(record.context)
        expected = {
            f"{title}: {_normalised(paragraphs[title][index])}" for title, index in record.supporting_facts
        }
        assert {episode.chunks[i] for i in episode.support} == expected, record.id
        assert len(episode.support) == len(record.supporting_facts), record.id
        assert all(chunk.split(": ", 1)[1] for chunk in episode.chunks), record.id


def _titles_by_chunk(records: list[HotpotRecord]) -> dict[str, str]:
    """Paragraph chunk text -> title, to read the titles off a long document."""
    return {
        chunk: title
        for record in records
        for chunk, (title, _) in zip(build_hotpotqa_episode(record).chunks, record.context, strict=True)
    }


@pytest.mark.shared_data
def test_long_episodes_keep_every_own_paragraph_among_unique_titles(
    dev_records: list[HotpotRecord],
) -> None:
    short = [record for record in dev_records if len(record.context) < 10]
    records, pool = dev_records[:6] + short, dev_records[:300]
    episodes = build_hotpotqa_long_episodes(records, pool, 3000, "3k", seed=5)
    titles_by_chunk = _titles_by_chunk(pool + short)
    own_at_start = 0
    for record, episode in zip(records, episodes, strict=True):
        own = build_hotpotqa_episode(record)
        counts = Counter(episode.chunks)
        assert all(counts[chunk] == 1 for chunk in own.chunks), record.id
        assert sorted(episode.chunks[i] for i in episode.support) == sorted(
            own.chunks[i] for i in own.support
        )
        titles = [titles_by_chunk[chunk] for chunk in episode.chunks]
        assert len(set(titles)) == len(titles), record.id
        assert episode.n_tokens == approx_token_count(episode.chunks) >= 3000
        own_positions = sorted(episode.chunks.index(chunk) for chunk in own.chunks)
        own_at_start += own_positions == list(range(len(own.chunks)))
        assert episode.id == f"hotpotqa/paragraph/3k/{record.id}"
        assert episode.length_bucket == "3k"
    assert own_at_start == 0  # the own paragraphs are shuffled in, not put first


@pytest.mark.shared_data
def test_long_sentence_episodes_support_the_fact_sentences(
    dev_records: list[HotpotRecord],
) -> None:
    records, pool = dev_records[:4], dev_records[:100]
    episodes = build_hotpotqa_long_episodes(records, pool, 2000, "2k", 1, "sentence")
    for record, episode in zip(records, episodes, strict=True):
        own = build_hotpotqa_episode(record, "sentence")
        assert [episode.chunks[i] for i in episode.support] == [
            chunk for chunk in episode.chunks if chunk in {own.chunks[i] for i in own.support}
        ]
        assert len(episode.support) == len(own.support)
        assert episode.n_tokens >= 2000


@pytest.mark.shared_data
def test_long_episodes_are_deterministic_in_the_seed(dev_records: list[HotpotRecord]) -> None:
    records, pool = dev_records[:3], dev_records[:60]

    def build(seed: int) -> list[Episode]:
        return build_hotpotqa_long_episodes(records, pool, 1500, "1.5k", seed)

    first = build(11)
    assert first == build(11)
    assert first != build(12)


@pytest.mark.shared_data
def test_an_exhausted_pool_or_a_bad_target_is_an_error(
    dev_records: list[HotpotRecord],
) -> None:
    with pytest.raises(QragInputError, match="reaches only .* of the 100000 target tokens"):
        build_hotpotqa_long_episodes(dev_records[:1], dev_records[:3], 100_000, "100k", 0)
    with pytest.raises(QragInputError, match="target_tokens is 0"):
        build_hotpotqa_long_episodes(dev_records[:1], dev_records[:3], 0, "0k", 0)


def test_the_sampler_draws_uniformly_among_episodes_with_support() -> None:
    with_support = [build_hotpotqa_episode(RECORD), build_hotpotqa_episode(RECORD, "sentence")]
    unsupported = Episode("u", "hotpotqa", "hotpotqa", "distractor", "q?", "a", ["x"], [])
    sample = hotpotqa_sampler([*with_support, unsupported])
    rng = np.random.default_rng(0)
    drawn = Counter(sample(rng).id for _ in range(400))
    assert set(drawn) == {"hotpotqa/paragraph/q1", "hotpotqa/sentence/q1"}
    assert 150 < drawn["hotpotqa/paragraph/q1"] < 250
    for empty in ([], [unsupported]):
        with pytest.raises(QragInputError, match="training episodes has supporting"):
            hotpotqa_sampler(empty)


def test_the_mixing_sampler_hides_each_question_among_fresh_chunks_of_the_others() -> None:
    episodes = toy_paragraph_episodes(6, 4, [1, 3])
    episodes[1].chunks[0] = episodes[0].chunks[0]  # one paragraph shared by two questions
    sample = hotpotqa_sampler(episodes, mix_chunks=5)
    rng = np.random.default_rng(0)
    sizes = Counter()
    for _ in range(300):
        mixed = sample(rng)
        source = next(e for e in episodes if mixed.id == f"{e.id}/mix")
        assert len(set(mixed.chunks)) == len(mixed.chunks)
        assert set(source.chunks) <= set(mixed.chunks)
        assert sorted(mixed.chunks[i] for i in mixed.support) == sorted(
            source.chunks[i] for i in source.support
        )
        assert mixed.question == source.question
        sizes[len(mixed.chunks) - len(source.chunks)] += 1
    assert set(sizes) == set(range(6))
    replay = hotpotqa_sampler(episodes, mix_chunks=5)
    assert [replay(np.random.default_rng(7)).chunks for _ in range(2)] == [
        sample(np.random.default_rng(7)).chunks for _ in range(2)
    ]
    with pytest.raises(QragInputError, match="mix_chunks is -1"):
        hotpotqa_sampler(episodes, mix_chunks=-1)
