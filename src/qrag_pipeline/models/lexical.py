"""Term overlap between a state and each chunk of one document: Q's lexical channel.

Why a second channel beside the rotated dot product: the rotation that lets Q tell
"the latest" from "an earlier" fact scrambles the fine content differences between
near-identical chunks. On RULER niah_multikey_3 (a UUID needle among ~160 needles of
the same template) the trained model ranks the asked needle 42nd to 128th, where
TF-IDF retrieval of the question finds it every time: the key's UUID fragments occur in
the question and in that one needle. `QNetwork(lexical_weight=...)` adds
w * overlap(state, chunk) to each twin Q estimate, w learned.

The overlap is the cosine of hashed word counts weighted by their inverse frequency
among the document's own chunks: a word in every needle ("special", "magic") weighs
little, a word in one chunk weighs most. Hashing (2**20 buckets) means nothing is
fitted or stored: the same texts give the same scores in training, in a checkpoint's
evaluation and in `QRetriever`, and a document is indexed once, like its embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from torch import Tensor

_HASHER = HashingVectorizer(n_features=2**20, alternate_sign=False, norm=None, dtype=np.float32)


class LexicalIndex:
    """One document's chunks as idf-weighted, unit-length term vectors over the
    document's own terms (its columns: `_terms`, the hashed words its chunks hold)."""

    def __init__(self, chunks: Sequence[str]) -> None:
        counts = _HASHER.transform(list(chunks)).tocsr()
        self._terms, document_frequency = np.unique(counts.indices, return_counts=True)
        self._idf = (np.log((1 + len(chunks)) / (1 + document_frequency)) + 1).astype(np.float32)
        self._chunks = _unit_rows(self._weighted(counts)).T.tocsr()

    def __len__(self) -> int:
        return self._chunks.shape[1]

    def scores(self, texts: Sequence[str]) -> Tensor:
        """Cosine [len(texts), N] of each text against every chunk, in [0, 1].

        A text's words that no chunk holds are left out of its norm: they can raise no
        chunk's score, and leaving them in would shrink every score of a long state.
        """
        states = _unit_rows(self._weighted(_HASHER.transform(list(texts)).tocsr()))
        return torch.from_numpy((states @ self._chunks).toarray())

    def _weighted(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """`counts` over the document's terms, each scaled by its idf; other words
        dropped. Renumbering the 2**20 hashed columns to the document's few hundred
        terms (in the same order) keeps every sparse product small."""
        slot = np.searchsorted(self._terms, counts.indices)
        known = slot < len(self._terms)
        known[known] = self._terms[slot[known]] == counts.indices[known]
        kept = np.concatenate(([0], np.cumsum(known)))[counts.indptr]
        weights = counts.data[known] * self._idf[slot[known]]
        return sparse.csr_matrix((weights, slot[known], kept), shape=(counts.shape[0], len(self._terms)))


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length; an empty row (no known word) stays zero."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scales = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    scaled = matrix.copy()
    scaled.data *= np.repeat(scales, np.diff(matrix.indptr))
    return scaled
