"""The untrained baselines Q-RAG is compared with, on the same episodes and budget T.

- `tfidf_top_k`: lexical single-step retrieval (TF-IDF cosine, fitted per document).
- `dense_top_k`: single-step retrieval with a pretrained embedder (exact inner-product
  search through faiss).
- `multistep_dense`: multi-step retrieval without training: each step's query is the
  question plus what was retrieved so far, as in Q-RAG's state, embedded by the
  pretrained encoder. It is Q-RAG's own inference with the pretrained encoder as both
  the state and the action encoder and no positional rotation, so the only difference
  from the trained model is the training.

Each returns a `Trace` like Q-RAG's, its scores in place of Q values, so the same stop
rules and metrics apply to every method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import Tensor

from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import dense_index
from qrag_pipeline.retrieval.multistep import retrieve
from qrag_pipeline.retrieval.trace import Trace


def tfidf_top_k(episode: Episode, k: int) -> Trace:
    """The `k` chunks with the highest TF-IDF cosine to the question, best first,
    with their cosines.

    The vectoriser is fitted on the episode's own chunks, so inverse document
    frequencies are those of this document (a word frequent in the book text weighs
    little). Ties keep document order. A document with no indexable word (every
    token shorter than two characters) scores all chunks 0.
    """
    _check_k(k)
    vectorizer = TfidfVectorizer()
    try:
        chunks = vectorizer.fit_transform(episode.chunks)
    except ValueError:
        scores = np.zeros(len(episode.chunks))
    else:
        scores = (chunks @ vectorizer.transform([episode.question]).T).toarray()[:, 0]
    best = np.argsort(-scores, kind="stable")[:k]
    return Trace(best.tolist(), scores[best].tolist())


def dense_top_k(
    question_embedding: Tensor | np.ndarray,
    chunk_embeddings: Tensor | np.ndarray,
    k: int,
) -> Trace:
    """The `k` chunks with the highest inner product with the question, best first,
    with their inner products.

    Both embeddings come from the same pretrained encoder; the search is exact
    (faiss IndexFlatIP over this episode's vectors).
    """
    _check_k(k)
    index = dense_index(chunk_embeddings)
    scores, found = index.search(_query_array(question_embedding), min(k, index.ntotal))
    return Trace(found[0].tolist(), scores[0].tolist())


def multistep_dense(
    encoder: TextEncoder,
    question: str,
    chunks: Sequence[str],
    chunk_embeddings: Tensor,
    steps: int,
    chunk_budget: int,
) -> Trace:
    """`steps` chunks in retrieval order, each the top-1 among those not yet taken,
    with the untrained network's Q value of each pick.

    The query of a step is the question and the chunks retrieved so far, in document
    order, joined and truncated as Q-RAG's state text; `chunk_embeddings` are
    `encoder.encode(chunks)`.
    """
    untrained = QNetwork(encoder, encoder, position_mode="none", chunk_budget=chunk_budget)
    return retrieve(untrained, question, chunks, chunk_embeddings, steps)


def _query_array(question_embedding: Tensor | np.ndarray) -> np.ndarray:
    """A question embedding [D] or [1, D] as the [1, D] float32 array faiss searches."""
    vector = torch.as_tensor(question_embedding).detach().cpu().float().numpy()
    return np.ascontiguousarray(vector.reshape(1, -1))


def _check_k(k: int) -> None:
    if k < 1:
        raise QragInputError(f"a baseline must retrieve at least 1 chunk, got k={k}.")
