"""Training pools as tables: the stories and distractor documents train_q samples from.

train_q draws a fresh episode at every environment reset (a story question hidden in
new distractor text), so data_prep hands it the ingredients, not finished episodes.
Both are stored as Parquet: stories one row per question, documents one row per
sentence (long format, so a million sentences stay one flat column).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babi_files import BabiSample

STORY_COLUMNS = ("task", "story", "facts", "question", "answer", "support")
DOCUMENT_COLUMNS = ("document", "sentence")


def samples_to_frame(samples: Iterable[BabiSample]) -> pd.DataFrame:
    """One row per question: its task, story number, facts, question, answer, support."""
    rows = [(s.task, s.story, list(s.facts), s.question, s.answer, list(s.support)) for s in samples]
    return pd.DataFrame(rows, columns=list(STORY_COLUMNS))


def samples_from_frame(frame: pd.DataFrame) -> list[BabiSample]:
    """Inverse of `samples_to_frame`."""
    _require_columns(frame, STORY_COLUMNS, "story pool")
    return [
        BabiSample(
            task=str(row.task),
            story=int(row.story),
            facts=tuple(str(f) for f in row.facts),
            question=str(row.question),
            answer=str(row.answer),
            support=tuple(int(i) for i in row.support),
        )
        for row in frame.itertuples(index=False)
    ]


def documents_to_frame(documents: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Long format: one row per sentence, with the name of its document."""
    names = [name for name, sentences in documents.items() for _ in sentences]
    sentences = [sentence for doc in documents.values() for sentence in doc]
    return pd.DataFrame({"document": names, "sentence": sentences})


def documents_from_frame(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Inverse of `documents_to_frame`, keeping the sentence order of each document."""
    _require_columns(frame, DOCUMENT_COLUMNS, "distractor pool")
    documents: dict[str, list[str]] = {}
    for name, sentence in zip(frame["document"], frame["sentence"], strict=True):
        documents.setdefault(str(name), []).append(str(sentence))
    return documents


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise QragInputError(
            f"{what} table lacks columns {missing}. Fix: rebuild it with `kedro run --pipelines data_prep`."
        )
