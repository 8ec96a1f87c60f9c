"""Where distractor text comes from: built-in prose (offline default) or book folders.

Training and test distractors never share a source: books come from two folders that
are checked to be disjoint, and the prose generator draws the two splits from
disjoint vocabularies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.seeding import derive_seed
from qrag_pipeline.sources.books import check_disjoint_sources, load_books
from qrag_pipeline.sources.prose_generator import generate_prose

DISTRACTOR_SOURCES = ("prose", "books")


def load_distractor_documents(
    spec: Mapping[str, Any], seed: int
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(train documents, test documents), each a mapping name -> sentences.

    `spec` keys: `source` (prose | books); for prose `prose_documents` and
    `prose_sentences_per_document`; for books `train_books_dir`, `test_books_dir`,
    `min_words`, `max_words`.
    """
    source = spec.get("source")
    if source == "prose":
        train, test = (
            generate_prose(
                spec["prose_documents"],
                spec["prose_sentences_per_document"],
                derive_seed(seed, "prose", split),
                split=split,
            )
            for split in ("train", "test")
        )
    elif source == "books":
        bounds = {"min_words": spec.get("min_words", 4), "max_words": spec.get("max_words", 60)}
        train = load_books(spec["train_books_dir"], **bounds)
        test = load_books(spec["test_books_dir"], **bounds)
    else:
        raise QragInputError(
            f"unknown distractor source {source!r}. Fix: set "
            f"data_prep.distractors.source to one of {DISTRACTOR_SOURCES}."
        )
    check_disjoint_sources(train, test)
    return train, test
