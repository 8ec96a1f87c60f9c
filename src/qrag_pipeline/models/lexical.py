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
    """One document's chunks as idf-weighted, unit-length hashed term vectors."""

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
        """`counts` with each term scaled by its idf; terms of no chunk dropped."""
        weights = np.zeros(counts.nnz, dtype=np.float32)
        if len(self._terms):
            slot = np.minimum(np.searchsorted(self._terms, counts.indices), len(self._terms) - 1)
            known = self._terms[slot] == counts.indices
            weights[known] = counts.data[known] * self._idf[slot[known]]
        weighted = sparse.csr_matrix((weights, counts.indices, counts.indptr), shape=counts.shape)
        weighted.eliminate_zeros()
        return weighted


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length; an empty row (no known word) stays zero."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ matrix
