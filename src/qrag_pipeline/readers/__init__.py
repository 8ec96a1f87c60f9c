"""Readers: answer a question from the chunks a retriever returned.

Evaluation treats every reader alike through the `Reader` protocol: the question, the
whole document's chunks and the retrieved indices in, a short answer out. A reader sees
only the retrieved chunks, and always in document order (`retrieved_in_document_order`),
because the order of retrieval is an artefact of the retriever while the story's order
carries meaning (qa1 "Where is Mary?" is her *latest* move).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from qrag_pipeline.errors import QragInputError


class Reader(Protocol):
    """Anything that answers a question from retrieved chunks ("" when it cannot)."""

    def answer(self, question: str, chunks: Sequence[str], retrieved: Sequence[int]) -> str:
        """The short answer to `question` from `chunks[i]` for i in `retrieved`."""
        ...


def retrieved_in_document_order(chunks: Sequence[str], retrieved: Sequence[int]) -> list[str]:
    """The retrieved chunks sorted by index, each once; a bad index raises.

    An index outside the document means the retrieval belongs to another episode, so
    it fails loudly instead of being skipped.
    """
    bad = [i for i in retrieved if not 0 <= i < len(chunks)]
    if bad:
        raise QragInputError(
            f"retrieved chunk indices {bad} are outside the document's {len(chunks)} "
            "chunks. Fix: pass the chunks of the episode the retrieval was run on."
        )
    return [chunks[i] for i in sorted(set(retrieved))]
