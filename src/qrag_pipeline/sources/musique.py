"""MuSiQue-Ans questions (Trivedi et al. 2022): multi-hop questions composed of 2-4
single-hop ones, each over 20 Wikipedia paragraphs of which the hops' own are marked.

The official record: `id`, `question`, `answer`, `answer_aliases`, `answerable`,
`paragraphs` = [{idx, title, paragraph_text, is_supporting}, ...] and
`question_decomposition` = [{question, answer, paragraph_support_idx}, ...], one entry
per hop. Official files are JSONL; copies come as a JSON list too, plain or gzipped.

Titles may repeat within a record (37 of the 100 real records here), so a paragraph is
known by its position, never by its title. The supporting paragraphs are those marked
`is_supporting`; each hop must name one of them, else the record's own annotation
disagrees with itself and it is refused. Unanswerable records (MuSiQue-Full's
contrast questions) have no complete support and are refused too: give MuSiQue-Ans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.json_records import read_json_records

REQUIRED_FIELDS = ("id", "question", "answer", "paragraphs", "question_decomposition")
PARAGRAPH_FIELDS = ("title", "paragraph_text", "is_supporting")
_FIX = (
    "give MuSiQue-Ans records in the official layout (JSONL or a JSON list, plain or "
    ".gz; each with paragraphs [{idx, title, paragraph_text, is_supporting}] and "
    "question_decomposition [{question, answer, paragraph_support_idx}])"
)


@dataclass(frozen=True)
class MusiqueRecord:
    """One answerable MuSiQue question: its paragraphs as (title, text) in file order and
    the positions of the supporting ones; `hops` is its decomposition's length."""

    id: str
    question: str
    answer: str
    answer_aliases: list[str]
    hops: int
    paragraphs: list[tuple[str, str]]
    support: list[int]


def parse_musique_file(path: str | Path) -> list[MusiqueRecord]:
    """All records of a MuSiQue file; any bad record is an error naming it."""
    path = Path(path)
    where = f"MuSiQue file {str(path)!r}"
    raw_records = read_json_records(path, where, _FIX)
    if not isinstance(raw_records, list) or not raw_records:
        raise QragInputError(f"{where} holds no records. Fix: {_FIX}.")
    return [_record(raw, f"{where}, record {index}") for index, raw in enumerate(raw_records)]


def _record(raw: Any, where: str) -> MusiqueRecord:
    if not isinstance(raw, Mapping):
        raise QragInputError(f"{where} is not a JSON object. Fix: {_FIX}.")
    where = f"{where} (id {raw.get('id')!r})"
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise QragInputError(f"{where} lacks the fields {missing}. Fix: {_FIX}.")
    if raw.get("answerable", True) is not True:
        raise QragInputError(
            f"{where} is unanswerable (MuSiQue-Full's contrast question): its support is "
            f"incomplete. Fix: {_FIX}."
        )
    paragraphs, positions, support = _paragraphs(raw["paragraphs"], where)
    if not support:
        raise QragInputError(
            f"{where} marks no paragraph is_supporting, so no retrieval can be scored. Fix: {_FIX}."
        )
    hops = _hop_paragraphs(raw["question_decomposition"], positions, where)
    unmarked = sorted(set(hops) - set(support))
    if unmarked:
        raise QragInputError(
            f"{where}: its decomposition's hops use paragraphs {unmarked}, which are not "
            f"marked is_supporting. Fix: {_FIX}."
        )
    return MusiqueRecord(
        id=str(raw["id"]),
        question=str(raw["question"]).strip(),
        answer=str(raw["answer"]).strip(),
        answer_aliases=[str(alias) for alias in raw.get("answer_aliases") or []],
        hops=len(hops),
        paragraphs=paragraphs,
        support=support,
    )


def _paragraphs(raw: Any, where: str) -> tuple[list[tuple[str, str]], dict[int, int], list[int]]:
    """(title, text) pairs in file order, the position of each paragraph's `idx` (its
    own position when the record gives none) and the positions marked is_supporting."""
    if not isinstance(raw, list) or not raw:
        raise QragInputError(f"{where}: paragraphs is not a non-empty list. Fix: {_FIX}.")
    pairs, positions, support = [], {}, []
    for position, paragraph in enumerate(raw):
        missing = [
            name for name in PARAGRAPH_FIELDS if not isinstance(paragraph, Mapping) or name not in paragraph
        ]
        if (
            missing
            or not isinstance(paragraph["title"], str)
            or not isinstance(paragraph["paragraph_text"], str)
        ):
            raise QragInputError(
                f"{where}: paragraph {position} is not an object with a text title, a "
                f"text paragraph_text and is_supporting. Fix: {_FIX}."
            )
        pairs.append((paragraph["title"].strip(), " ".join(paragraph["paragraph_text"].split())))
        positions[int(paragraph.get("idx", position))] = position
        if paragraph["is_supporting"] is True:
            support.append(position)
    return pairs, positions, support


def _hop_paragraphs(raw: Any, positions: Mapping[int, int], where: str) -> list[int]:
    """The paragraph position each hop of the decomposition is answered from."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise QragInputError(f"{where}: question_decomposition is not a non-empty list. Fix: {_FIX}.")
    hops = []
    for number, step in enumerate(raw, start=1):
        index = step.get("paragraph_support_idx") if isinstance(step, Mapping) else None
        if type(index) is not int or index not in positions:
            raise QragInputError(
                f"{where}: hop {number} of its decomposition names paragraph {index!r}, "
                f"which is none of its paragraphs' idx. Fix: {_FIX}."
            )
        hops.append(positions[index])
    return hops
