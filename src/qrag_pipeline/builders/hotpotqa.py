"""HotpotQA episodes: one question over its context, as paragraphs or sentences.

The chunking is a parameter (docs/benchmarks.md): a paragraph chunk is "title: text" and
supports the question when its title is a supporting-fact title; a sentence chunk is
"title: sentence" and supports it when it is a supporting fact. The title stays in
every chunk because HotpotQA's bridge entities are often named only there.

The long-context variant (as RULER's qa_2) hides the question's own paragraphs among
paragraphs of other questions until the document reaches a token target. Episode ids
carry the chunking (and the length bucket), because embeddings are stored per
episode id and the chunks differ between variants of the same question.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qrag_pipeline.episodes import Episode, EpisodeSampler, approx_token_count
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.seeding import rng_for
from qrag_pipeline.sources.hotpotqa import HotpotRecord

HOTPOTQA = "hotpotqa"
CHUNKINGS = ("paragraph", "sentence")
DISTRACTOR_BUCKET = "distractor"

Paragraph = tuple[str, list[str]]


def build_hotpotqa_episode(record: HotpotRecord, chunking: str = "paragraph") -> Episode:
    """The distractor-setting episode: the record's own paragraphs in their own order."""
    return _episode(
        record,
        record.context,
        chunking,
        f"hotpotqa/{chunking}/{record.id}",
        DISTRACTOR_BUCKET,
    )


def build_hotpotqa_episodes(records: Sequence[HotpotRecord], chunking: str = "paragraph") -> list[Episode]:
    """Distractor-setting episodes of all `records`, in their order."""
    return [build_hotpotqa_episode(record, chunking) for record in records]


def build_hotpotqa_long_episodes(
    records: Sequence[HotpotRecord],
    pool_records: Sequence[HotpotRecord],
    target_tokens: int,
    length_bucket: str,
    seed: int,
    chunking: str = "paragraph",
) -> list[Episode]:
    """Long-context episodes of at least `target_tokens` (approx_token_count) each.

    Every paragraph of the question's own record is kept (its gold paragraphs and its
    distractors) and the filler comes from `pool_records`: paragraphs, one per title,
    whose title is none of the question's own titles, so no title appears twice and no
    copy of a gold paragraph can stand in for it. Filler is drawn in a random order
    until the target is reached, then all paragraphs are shuffled together; for a given
    pool, both draws depend only on `seed`, `length_bucket` and the question id.
    """
    _check_chunking(chunking)
    if target_tokens < 1:
        raise QragInputError(
            f"target_tokens is {target_tokens}. Fix: give a positive token count for "
            f"the HotpotQA long-context bucket {length_bucket!r}."
        )
    pool = _unique_paragraphs(pool_records)
    pool_tokens = [_token_count(paragraph, chunking) for paragraph in pool]
    episodes = []
    for record in records:
        rng = rng_for(seed, "hotpotqa-long", length_bucket, record.id)
        filler = _filler(record, pool, pool_tokens, target_tokens, rng, chunking)
        paragraphs = [*record.context, *filler]
        shuffled = [paragraphs[i] for i in rng.permutation(len(paragraphs))]
        episode_id = f"hotpotqa/{chunking}/{length_bucket}/{record.id}"
        episodes.append(_episode(record, shuffled, chunking, episode_id, length_bucket))
    return episodes


def hotpotqa_sampler(episodes: Sequence[Episode], mix_chunks: int = 0) -> EpisodeSampler:
    """Training episodes drawn uniformly from a fixed list, by the caller's generator.

    Unlike BabiLong, HotpotQA has no background text to renew, so the training set is
    the fixed list of built episodes; those without supporting chunks are left out,
    because they can give no reward. With `mix_chunks` > 0 each draw is a fresh mix,
    as the long-context variant builds its documents: the episode's own chunks with 0
    to `mix_chunks` chunks of the other training episodes (none equal to one of its
    own), all in a new order. A few hundred questions then go further: the same
    question comes back among new distractors, at a new length and place.
    """
    usable = [episode for episode in episodes if episode.support]
    if not usable:
        raise QragInputError(
            f"none of the {len(episodes)} HotpotQA training episodes has supporting "
            "chunks. Fix: give training questions with supporting facts (a train part "
            "of at least one question, see split_records)."
        )
    if mix_chunks < 0:
        raise QragInputError(f"mix_chunks is {mix_chunks}. Fix: give 0 (no mixing) or more.")
    pool = list(dict.fromkeys(chunk for episode in usable for chunk in episode.chunks))

    def sample_episode(rng: np.random.Generator) -> Episode:
        episode = usable[int(rng.integers(len(usable)))]
        return _mixed(episode, pool, int(rng.integers(mix_chunks + 1)), rng) if mix_chunks else episode

    return sample_episode


def _mixed(episode: Episode, pool: Sequence[str], extra: int, rng: np.random.Generator) -> Episode:
    """`episode` with `extra` pool chunks it does not hold, all shuffled, its support
    following its own chunks to their new places."""
    own = set(episode.chunks)
    filler: list[str] = []
    for index in rng.permutation(len(pool)):
        if len(filler) == extra:
            break
        if pool[index] not in own:
            filler.append(pool[index])
    chunks = [*episode.chunks, *filler]
    order = rng.permutation(len(chunks))
    place = {int(old): new for new, old in enumerate(order)}
    return Episode(
        id=f"{episode.id}/mix",
        benchmark=episode.benchmark,
        task=episode.task,
        length_bucket=episode.length_bucket,
        question=episode.question,
        answer=episode.answer,
        chunks=[chunks[i] for i in order],
        support=sorted(place[i] for i in episode.support),
        n_tokens=approx_token_count(chunks),
    )


def _check_chunking(chunking: str) -> None:
    if chunking not in CHUNKINGS:
        raise QragInputError(f"unknown HotpotQA chunking {chunking!r}. Fix: use one of {list(CHUNKINGS)}.")


def _episode(
    record: HotpotRecord,
    paragraphs: Sequence[Paragraph],
    chunking: str,
    episode_id: str,
    length_bucket: str,
) -> Episode:
    """An episode over `paragraphs` in the given order, with support found by title."""
    _check_chunking(chunking)
    if chunking == "paragraph":
        chunks, support = _paragraph_chunks(record, paragraphs)
    else:
        chunks, support = _sentence_chunks(record, paragraphs)
    return Episode(
        id=episode_id,
        benchmark=HOTPOTQA,
        task=HOTPOTQA,
        length_bucket=length_bucket,
        question=record.question,
        answer=record.answer,
        chunks=chunks,
        support=support,
        n_tokens=approx_token_count(chunks),
    )


def _paragraph_chunks(record: HotpotRecord, paragraphs: Sequence[Paragraph]) -> tuple[list[str], list[int]]:
    gold_titles = {title for title, _ in record.supporting_facts}
    chunks = [_paragraph_text(title, sentences) for title, sentences in paragraphs]
    support = [i for i, (title, _) in enumerate(paragraphs) if title in gold_titles]
    return chunks, support


def _sentence_chunks(record: HotpotRecord, paragraphs: Sequence[Paragraph]) -> tuple[list[str], list[int]]:
    """One chunk per non-empty sentence (the data has a few empty trailing ones)."""
    gold = set(record.supporting_facts)
    chunks, support = [], []
    for title, sentences in paragraphs:
        for index, sentence in enumerate(sentences):
            text = _normalise(sentence)
            if not text:
                continue
            if (title, index) in gold:
                support.append(len(chunks))
            chunks.append(f"{title}: {text}")
    return chunks, support


def _paragraph_text(title: str, sentences: Sequence[str]) -> str:
    """The paragraph chunk: its sentences concatenated as the data stores them (each
    carries its own leading space; a few split mid-quote carry none), whitespace
    collapsed, after the title."""
    return f"{title}: {_normalise(''.join(sentences))}"


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _token_count(paragraph: Paragraph, chunking: str) -> int:
    """Tokens the paragraph adds to a document: counts add up over chunks."""
    title, sentences = paragraph
    if chunking == "paragraph":
        return approx_token_count([_paragraph_text(title, sentences)])
    texts = (_normalise(sentence) for sentence in sentences)
    return approx_token_count(f"{title}: {text}" for text in texts if text)


def _unique_paragraphs(records: Sequence[HotpotRecord]) -> list[Paragraph]:
    """All paragraphs of `records`, the first one of each title (the same Wikipedia
    paragraph recurs across questions)."""
    seen: set[str] = set()
    unique = []
    for record in records:
        for title, sentences in record.context:
            if title not in seen:
                seen.add(title)
                unique.append((title, sentences))
    return unique


def _filler(
    record: HotpotRecord,
    pool: Sequence[Paragraph],
    pool_tokens: Sequence[int],
    target_tokens: int,
    rng: np.random.Generator,
    chunking: str,
) -> list[Paragraph]:
    """Pool paragraphs in random order, none with an own title, up to the target."""
    own_titles = {title for title, _ in record.context}
    tokens = sum(_token_count(paragraph, chunking) for paragraph in record.context)
    filler: list[Paragraph] = []
    for index in rng.permutation(len(pool)):
        if tokens >= target_tokens:
            return filler
        if pool[index][0] not in own_titles:
            filler.append(pool[index])
            tokens += pool_tokens[index]
    if tokens < target_tokens:
        raise QragInputError(
            f"HotpotQA question {record.id!r}: the pool of {len(pool)} paragraphs "
            f"reaches only {tokens} of the {target_tokens} target tokens. Fix: give "
            "more pool questions or a smaller target."
        )
    return filler
