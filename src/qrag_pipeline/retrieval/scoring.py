"""How a Q-network scores one document's chunks at one state: training and inference alike.

A `ScoredDocument` is one question over one document as the network sees it at each
step: the state text (the question and the retrieved chunks in document order, each
cut to the network's chunk budget), the state's term overlap with every chunk for a
network with the lexical channel (the document's words indexed once; the last state's
overlaps kept, as the learner's target pass scores the state its next policy pass
scores again), and the twin Q estimates of every chunk. The learner's policy and
target passes and greedy retrieval at any length (`retrieval.multistep`) all score
through `twin_q` here, so a state is scored the same way wherever it is met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from qrag_pipeline.models.lexical import LexicalIndex
from qrag_pipeline.models.q_network import QNetwork


@dataclass
class ScoredDocument:
    """One question's document as Q scores it; `lexical` is its word index (made at the
    first state that needs it, or given)."""

    question: str
    chunks: Sequence[str]
    lexical: LexicalIndex | None = None
    last_overlaps: tuple[str, Tensor] | None = None

    def indexed(self, network: QNetwork) -> ScoredDocument:
        """This document with its words indexed now when `network` has the lexical
        channel (the learner indexes a document at its reset)."""
        if network.lexical_weight is not None and self.lexical is None:
            self.lexical = LexicalIndex(self.chunks)
        return self

    def state_text(self, network: QNetwork, retrieved: Sequence[int]) -> str:
        return network.state_text(self.question, self.chunks, retrieved)

    def overlaps(self, network: QNetwork, state: str) -> Tensor | None:
        """`state`'s term overlap [N] with the chunks (None without the channel),
        scored once per state."""
        if network.lexical_weight is None:
            return None
        if self.last_overlaps is not None and self.last_overlaps[0] == state:
            return self.last_overlaps[1]
        overlaps = self.indexed(network).lexical.scores([state])[0]
        self.last_overlaps = (state, overlaps)
        return overlaps

    def twin_q(
        self,
        network: QNetwork,
        state: str,
        state_embedding: Tensor,
        chunk_embeddings: Tensor,
        retrieved: Sequence[int],
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """q1, q2 [N] of every chunk at `state` (its text and its embedding [D]),
        given the chunks retrieved so far (scored too: masking them is the caller's),
        and the overlaps they include (None without the lexical channel).
        `chunk_embeddings` [N, D] are the action encoder's outputs, made once per
        document."""
        lexical = self.overlaps(network, state)
        q1, q2 = network.chunk_twin_q(state_embedding, chunk_embeddings, retrieved, lexical)
        return q1, q2, lexical
