"""Multi-step retrieval with a Q-network at any document length, with traces.

docs/method.md, "Inference": a document's chunks are embedded once; each step
then encodes the state (question plus what was retrieved), re-rotates the precomputed
chunk embeddings by the positions the retrieved set implies, masks the retrieved
chunks and takes the argmax. A step is O(N*D) in time and memory (no [N, N] tensor),
which is what lets one process 400,000-chunk documents on a CPU. A network with the
lexical channel also indexes each document's words once (`LexicalIndex`), and each
step scores the state's words against it (a sparse product, O(nonzeros)).

Every pick's Q value is kept in the `Trace`, so one run gives the fixed-T result, the
learned stop and the oracle stop alike (`qrag_pipeline.retrieval.trace`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.lexical import LexicalIndex
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.retrieval.scoring import ScoredDocument
from qrag_pipeline.retrieval.trace import Trace


@dataclass
class _Search:
    """One question's retrieval in progress.

    `embeddings` fetches the chunk embeddings [N, D] when a step needs them, so that
    a batch of long documents never holds all of theirs in float32 at once (200
    episodes of 40,000 chunks would take 12 GB).
    """

    document: ScoredDocument
    embeddings: Callable[[], Tensor]
    retrieved: list[int] = field(default_factory=list)
    q_values: list[float] = field(default_factory=list)


def _available(q1: Tensor, q2: Tensor, retrieved: Sequence[int]) -> Tensor:
    """The policy's Q [N] (the twin estimates summed), the retrieved chunks at -inf."""
    q = q1 + q2
    q[torch.tensor(list(retrieved), dtype=torch.long, device=q.device)] = -torch.inf
    return q


@torch.no_grad()
def step_q(
    network: QNetwork,
    question: str,
    chunks: Sequence[str],
    chunk_embeddings: Tensor,
    retrieved: Sequence[int],
    lexical: LexicalIndex | None = None,
) -> Tensor:
    """Q [N] of every chunk at the step of `retrieve` that follows `retrieved` (those:
    -inf), scored as `retrieve` scores it: for looking at a trace's runners-up.

    `lexical` is the document's `LexicalIndex` for a network with the lexical channel:
    made once, it serves every step of a loop over a long document; None indexes the
    document's words here, at each call.
    """
    _check_count(chunks, chunk_embeddings.shape, "the document")
    if lexical is not None and len(lexical) != len(chunks):
        raise QragInputError(
            f"the lexical index holds {len(lexical)} chunks but the document has "
            f"{len(chunks)}. Fix: pass LexicalIndex(chunks) of this document's chunks."
        )
    document = ScoredDocument(question, chunks, lexical)
    text = document.state_text(network, retrieved)
    state = network.state_encoder.encode([text])[0]
    q1, q2, _ = document.twin_q(network, text, state, chunk_embeddings, retrieved)
    return _available(q1, q2, retrieved)


def retrieve(
    network: QNetwork,
    question: str,
    chunks: Sequence[str],
    chunk_embeddings: Tensor,
    max_steps: int,
) -> Trace:
    """Greedy retrieval of up to `max_steps` chunks of one document.

    `chunk_embeddings` [N, D] are `network.action_encoder.encode(chunks)`, made once.
    Fewer than `max_steps` chunks are retrieved only when the document has fewer.
    """
    _check_count(chunks, chunk_embeddings.shape, "the document")
    search = _Search(ScoredDocument(question, chunks), _constant(chunk_embeddings))
    _run(network, [search], max_steps)
    return _trace(search)


def retrieve_batch(
    network: QNetwork,
    episodes: Sequence[Episode],
    embeddings: EpisodeEmbeddings | Sequence[Tensor],
    max_steps: int,
) -> list[Trace]:
    """`retrieve` for every episode, with the states of all episodes still running
    encoded as one batch per step (the encoder's cost is per batch as much as per
    text). `embeddings` holds the episodes' chunk embeddings: an `EpisodeEmbeddings`
    (looked up by episode id) or one tensor per episode, in order.
    """
    searches = [
        _Search(ScoredDocument(episode.question, episode.chunks), fetch)
        for episode, fetch in zip(episodes, _fetchers(episodes, embeddings), strict=True)
    ]
    _run(network, searches, max_steps)
    return [_trace(search) for search in searches]


@torch.no_grad()
def _run(network: QNetwork, searches: Sequence[_Search], max_steps: int) -> None:
    """Advance every search by up to `max_steps` greedy picks, in place."""
    for _ in range(max_steps):
        running = [s for s in searches if len(s.retrieved) < len(s.document.chunks)]
        if not running:
            return
        texts = [s.document.state_text(network, s.retrieved) for s in running]
        states = network.state_encoder.encode(texts)
        for state, text, search in zip(states, texts, running, strict=True):
            q1, q2, _ = search.document.twin_q(network, text, state, search.embeddings(), search.retrieved)
            q = _available(q1, q2, search.retrieved)
            best = int(q.argmax())
            search.retrieved.append(best)
            search.q_values.append(float(q[best]))


def _trace(search: _Search) -> Trace:
    return Trace(list(search.retrieved), list(search.q_values))


def _fetchers(
    episodes: Sequence[Episode], embeddings: EpisodeEmbeddings | Sequence[Tensor]
) -> list[Callable[[], Tensor]]:
    """Per episode, what fetches its [N_i, D] embeddings; shapes checked up front."""
    if isinstance(embeddings, EpisodeEmbeddings):
        for episode in episodes:
            shape = (embeddings.n_chunks(episode.id), embeddings.vectors.shape[1])
            _check_count(episode.chunks, shape, f"episode {episode.id!r}")
        return [partial(embeddings.of, episode.id) for episode in episodes]
    tensors = list(embeddings)
    if len(tensors) != len(episodes):
        raise QragInputError(
            f"{len(tensors)} embedding tensors for {len(episodes)} episodes. Fix: "
            "pass one tensor per episode, in the same order."
        )
    for episode, vectors in zip(episodes, tensors, strict=True):
        _check_count(episode.chunks, vectors.shape, f"episode {episode.id!r}")
    return [_constant(vectors) for vectors in tensors]


def _constant(vectors: Tensor) -> Callable[[], Tensor]:
    return lambda: vectors


def _check_count(chunks: Sequence[str], shape: Sequence[int], what: str) -> None:
    if len(shape) != 2 or shape[0] != len(chunks):
        raise QragInputError(
            f"{what} has {len(chunks)} chunks but its embeddings have shape "
            f"{list(shape)}. Fix: embed exactly these chunks, in order "
            "(the embeddings may belong to another version of the episodes)."
        )
