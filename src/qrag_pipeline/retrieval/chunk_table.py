"""The frozen action side's memory: each known text's embedding, computed once.

With the action encoder frozen, a chunk's embedding depends on its text alone, so the
training pools (story facts, distractor sentences, HotpotQA paragraphs) are embedded
once, by the embed stage, and every training run on those pools reads them here
instead of re-encoding each new document's chunks at every reset. Texts the table does
not hold (freshly generated needles, say) are encoded on the spot, all of one call in
one batch, and stored at the table's precision, so a chunk's vector is the same
whether it came from the table or not, up to the encoder's batch-to-batch rounding.
Misses are not added to the table: which texts a later call finds would then depend
on the calls before it, and a resumed training run must see exactly what an
uninterrupted one saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import EMBEDDING_FIELDS, TextEncoder, same_embeddings
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings


class ChunkTable:
    """Known texts' vectors [U, D] by `encoder`, and that encoder for the rest."""

    def __init__(
        self,
        encoder: TextEncoder,
        texts: Sequence[str] = (),
        vectors: np.ndarray | None = None,
    ) -> None:
        vectors = np.zeros((0, encoder.dim), dtype=np.float32) if vectors is None else vectors
        if vectors.ndim != 2 or vectors.shape != (len(texts), encoder.dim):
            raise QragInputError(
                f"a chunk table needs one {encoder.dim}-dimensional vector per text; "
                f"got {len(texts)} texts and vectors of shape {list(vectors.shape)}. "
                "Fix: embed the pools with the same encoder the Q-network uses."
            )
        self.encoder = encoder
        self.vectors = vectors
        self.row_of = {text: row for row, text in enumerate(texts)}
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_embeddings(cls, encoder: TextEncoder, embeddings: EpisodeEmbeddings) -> ChunkTable:
        """The table of saved embeddings, checked to come from `encoder`'s weights.

        A table made by another encoder (another model, layer count, scale or length
        limit) would mix two embedding spaces in one document, so it is refused.
        """
        if not same_embeddings(embeddings.encoder, encoder.encoder_config()):
            raise QragInputError(
                f"the training pool embeddings were made by encoder "
                f"{_fields(embeddings.encoder)}, but the Q-network's frozen action "
                f"encoder is {_fields(encoder.encoder_config())}. Fix: set "
                "embed.encoder to the same name_or_path, num_layers, scale and "
                "max_length as train_q.model, and rerun the embed pipeline."
            )
        return cls(encoder, embeddings.texts, embeddings.vectors)

    def lookup(self, texts: Sequence[str]) -> Tensor:
        """Vectors [N, D] of `texts` (float32, on the encoder's device), in order."""
        rows = np.fromiter((self.row_of.get(text, -1) for text in texts), dtype=np.int64, count=len(texts))
        known = rows >= 0
        out = np.empty((len(texts), self.vectors.shape[1]), dtype=np.float32)
        out[known] = self.vectors[rows[known]]
        if not known.all():
            missing = list(dict.fromkeys(t for t, k in zip(texts, known, strict=True) if not k))
            fresh = self.encoder.encode(missing).cpu().numpy().astype(self.vectors.dtype).astype(np.float32)
            position = {text: i for i, text in enumerate(missing)}
            out[~known] = fresh[[position[t] for t, k in zip(texts, known, strict=True) if not k]]
        self.hits += int(known.sum())
        self.misses += int((~known).sum())
        return torch.from_numpy(out).to(self.encoder.device)

    def lookup_lists(self, chunk_lists: Sequence[Sequence[str]]) -> list[Tensor]:
        """`lookup` of each list (episodes' documents), the texts the table lacks in
        all of them encoded together: one batch for a set of NIAH episodes' fresh
        needles rather than one small batch per episode."""
        vectors = self.lookup([text for chunks in chunk_lists for text in chunks])
        return list(vectors.split([len(chunks) for chunks in chunk_lists]))


def _fields(config: dict) -> dict:
    return {key: config.get(key) for key in EMBEDDING_FIELDS}
