"""BabiLong episodes: a bAbI story hidden in long distractor text.

As in BabiLong (Kuratov et al. 2024), the story's facts keep their order and are put
at random sentence boundaries inside a contiguous stretch of background text until
the document reaches a length bucket. Rebuilding episodes this way (rather than
downloading the official BabiLong sets) keeps the supporting-fact ids, which the
retriever is trained and scored on. One chunk is one sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from qrag_pipeline.builders.lengths import LengthRange
from qrag_pipeline.episodes import Episode, EpisodeSampler, approx_token_count
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.seeding import rng_for
from qrag_pipeline.sources.babi_files import BabiSample

LOGGER = logging.getLogger(__name__)

# Sentences per document for each BabiLong length bucket (about 20-28 tokens each).
DEFAULT_LENGTH_BUCKETS: dict[str, int] = {
    "1k": 50,
    "4k": 160,
    "32k": 1200,
    "128k": 4600,
    "1M": 40000,
    "10M": 400000,
}


def bucket_size(bucket: str, buckets: Mapping[str, int] = DEFAULT_LENGTH_BUCKETS) -> int:
    """Sentences in `bucket`, or an error listing the known buckets."""
    if bucket not in buckets:
        raise QragInputError(
            f"unknown length bucket {bucket!r}. Fix: use one of {list(buckets)} or "
            "add it to data_prep.babilong.length_buckets (name: sentence count)."
        )
    size = buckets[bucket]
    if not isinstance(size, int) or size < 1:
        raise QragInputError(
            f"length bucket {bucket!r} has {size!r} sentences. Fix: give a positive "
            "whole number in data_prep.babilong.length_buckets."
        )
    return size


class DistractorStream:
    """The sentences of all distractor documents as one cyclic stream.

    A window is a contiguous stretch starting at a random sentence, so distractors
    read as continuous prose, as BabiLong's book text does; the stream wraps to the
    next document (and, for a window longer than the pool, repeats itself).
    """

    def __init__(self, documents: Mapping[str, Sequence[str]]) -> None:
        self._sentences = [s for name in sorted(documents) for s in documents[name]]
        if not self._sentences:
            raise QragInputError(
                "the distractor pool is empty. Fix: give a books folder with text "
                "(.txt/.txt.gz) or use the built-in prose (source: prose)."
            )

    def __len__(self) -> int:
        return len(self._sentences)

    def window(self, n: int, rng: np.random.Generator) -> list[str]:
        """`n` consecutive sentences from a random start."""
        total = len(self._sentences)
        if n > total:
            LOGGER.warning(
                "a window of %d distractor sentences exceeds the pool's %d: sentences "
                "repeat; give more books or prose documents to avoid it",
                n,
                total,
            )
        start = int(rng.integers(total))
        indices = (start + np.arange(n)) % total
        return [self._sentences[i] for i in indices]


def hide_facts(
    facts: Sequence[str], distractors: Sequence[str], rng: np.random.Generator
) -> tuple[list[str], list[int]]:
    """Interleave `facts` (order kept) at random boundaries of `distractors`.

    Returns the chunks and, for each fact, its chunk index.
    """
    total = len(facts) + len(distractors)
    positions = np.sort(rng.choice(total, size=len(facts), replace=False))
    is_fact = np.zeros(total, dtype=bool)
    is_fact[positions] = True
    fact_iter, distractor_iter = iter(facts), iter(distractors)
    chunks = [next(fact_iter) if flag else next(distractor_iter) for flag in is_fact]
    return chunks, [int(p) for p in positions]


def build_babilong_episode(
    sample: BabiSample,
    stream: DistractorStream,
    n_sentences: int,
    rng: np.random.Generator,
    episode_id: str,
    length_bucket: str,
) -> Episode:
    """One episode of exactly `n_sentences` chunks (the story must fit in it)."""
    if len(sample.facts) > n_sentences:
        raise QragInputError(
            f"episode {episode_id!r}: the story has {len(sample.facts)} facts, more "
            f"than the {n_sentences} sentences of bucket {length_bucket!r}. Fix: use a "
            "longer bucket or stories that fit (build_babilong_episodes picks those)."
        )
    distractors = stream.window(n_sentences - len(sample.facts), rng)
    chunks, fact_positions = hide_facts(sample.facts, distractors, rng)
    return Episode(
        id=episode_id,
        benchmark="babilong",
        task=sample.task,
        length_bucket=length_bucket,
        question=sample.question,
        answer=sample.answer,
        chunks=chunks,
        support=sorted(fact_positions[i] for i in sample.support),
        n_tokens=approx_token_count(chunks),
    )


def build_babilong_episodes(
    samples_by_task: Mapping[str, Sequence[BabiSample]],
    documents: Mapping[str, Sequence[str]],
    lengths: Sequence[str],
    episodes_per_task_length: int,
    seed: int,
    buckets: Mapping[str, int] = DEFAULT_LENGTH_BUCKETS,
) -> list[Episode]:
    """Evaluation episodes for every task and length bucket, deterministic in `seed`.

    Each task's questions are shuffled once, and each length takes the first ones
    whose story fits, so the same questions recur across lengths where they can
    (paired comparisons of length).
    """
    if episodes_per_task_length < 1:
        raise QragInputError(
            f"episodes_per_task_length is {episodes_per_task_length}. Fix: set "
            "data_prep.babilong.episodes_per_task_length to a positive whole number."
        )
    sizes = {bucket: bucket_size(bucket, buckets) for bucket in lengths}
    stream = DistractorStream(documents)
    episodes: list[Episode] = []
    for task, samples in samples_by_task.items():
        order = rng_for(seed, "question-order", task).permutation(len(samples))
        for bucket, size in sizes.items():
            chosen = [samples[i] for i in order if len(samples[i].facts) <= size]
            chosen = chosen[:episodes_per_task_length]
            if not chosen:
                raise QragInputError(
                    f"no {task} story fits in bucket {bucket!r} ({size} sentences). "
                    "Fix: drop this bucket for this task or use a longer one."
                )
            if len(chosen) < episodes_per_task_length:
                LOGGER.warning(
                    "%s at %s: only %d of the requested %d questions have stories that fit in %d sentences",
                    task,
                    bucket,
                    len(chosen),
                    episodes_per_task_length,
                    size,
                )
            for index, sample in enumerate(chosen):
                episodes.append(
                    build_babilong_episode(
                        sample,
                        stream,
                        size,
                        rng_for(seed, "episode", task, bucket, index),
                        f"babilong/{task}/{bucket}/{index:05d}",
                        bucket,
                    )
                )
    return episodes


def babilong_sampler(
    samples: Sequence[BabiSample],
    documents: Mapping[str, Sequence[str]],
    lengths: LengthRange | int,
) -> EpisodeSampler:
    """Training episodes made on the fly: a random question in fresh distractor text.

    Each call draws the question, the document's length (within `lengths`, at least
    the story's facts) and the window from the caller's generator, so every reset sees
    new background text (the agent cannot memorise documents) and the whole stream of
    episodes is fixed by the environment's seed.
    """
    lengths = LengthRange.of(lengths)
    fitting = [sample for sample in samples if len(sample.facts) <= lengths.longest]
    if not fitting:
        raise QragInputError(
            f"no training story fits in {lengths.longest} sentences. Fix: raise the "
            "training document length or give shorter stories."
        )
    stream = DistractorStream(documents)

    def sample_episode(rng: np.random.Generator) -> Episode:
        sample = fitting[int(rng.integers(len(fitting)))]
        episode_id = f"train/{sample.task}/{sample.story}"
        n_sentences = lengths.draw(rng, at_least=len(sample.facts))
        return build_babilong_episode(sample, stream, n_sentences, rng, episode_id, "train")

    return sample_episode
