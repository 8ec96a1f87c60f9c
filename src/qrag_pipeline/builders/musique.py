"""MuSiQue episodes: one question over its 20 paragraphs, each chunk "title: text".

As in HotpotQA's paragraph chunking, the title stays in the chunk because a hop's
bridge entity is often named only there; the supporting chunks are the paragraphs the
record marks, one per hop (2-4), so T = 4 steps can complete every question.
"""

from __future__ import annotations

from collections.abc import Sequence

from qrag_pipeline.episodes import Episode, approx_token_count
from qrag_pipeline.sources.musique import MusiqueRecord

MUSIQUE = "musique"
PARAGRAPHS_BUCKET = "20_paragraphs"


def build_musique_episodes(records: Sequence[MusiqueRecord]) -> list[Episode]:
    """One episode per record, its paragraphs in the record's order."""
    return [_episode(record) for record in records]


def _episode(record: MusiqueRecord) -> Episode:
    chunks = [f"{title}: {text}" for title, text in record.paragraphs]
    return Episode(
        id=f"{MUSIQUE}/{record.id}",
        benchmark=MUSIQUE,
        task=MUSIQUE,
        length_bucket=PARAGRAPHS_BUCKET,
        question=record.question,
        answer=record.answer,
        chunks=chunks,
        support=list(record.support),
        n_tokens=approx_token_count(chunks),
    )
