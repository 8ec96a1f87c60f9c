"""The frozen action side's table: known texts looked up, the rest encoded on the spot."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.retrieval.chunk_table import ChunkTable
from qrag_pipeline.retrieval.embeddings import embed_texts

POOL = [
    "Mary went to the kitchen.",
    "The sky is blue.",
    "John took the apple there.",
    "It was a dark and stormy night, and the rain fell in torrents.",
]


def test_cached_embeddings_equal_fresh_encodings_of_the_same_texts(
    make_tiny: Callable[..., TextEncoder],
) -> None:
    encoder = make_tiny(seed=2)
    table = ChunkTable.from_embeddings(encoder, embed_texts(encoder, POOL, "float32", progress=False))
    query = [POOL[2], POOL[0], POOL[2], POOL[3]]
    looked_up = table.lookup(query)
    fresh = torch.stack([encoder.encode([text])[0] for text in query])  # each alone: no batch effects
    torch.testing.assert_close(looked_up, fresh, atol=1e-6, rtol=0)
    assert (table.hits, table.misses) == (4, 0)


def test_texts_it_does_not_hold_are_encoded_at_its_precision_and_not_kept(
    make_tiny: Callable[..., TextEncoder],
) -> None:
    encoder = make_tiny(seed=2)
    table = ChunkTable.from_embeddings(encoder, embed_texts(encoder, POOL[:2], "float16", progress=False))
    needle = "One of the special magic numbers for brave-otter is: 4412907."
    vectors = table.lookup([POOL[1], needle, POOL[0], needle])
    fresh = encoder.encode([POOL[1], needle, POOL[0]]).numpy()
    expected = fresh.astype(np.float16).astype(np.float32)  # the table's precision, for misses too
    np.testing.assert_allclose(vectors.numpy(), expected[[0, 1, 2, 1]], atol=2e-3 * np.abs(fresh).max())
    assert torch.equal(vectors[1], vectors[3])
    assert (table.hits, table.misses) == (2, 2)
    assert needle not in table.row_of  # a later call sees the same table


def test_lists_are_looked_up_as_one_call_and_split_back(make_tiny: Callable[..., TextEncoder]) -> None:
    encoder = make_tiny(seed=2)
    table = ChunkTable.from_embeddings(encoder, embed_texts(encoder, POOL[:2], "float32", progress=False))
    lists = [[POOL[0], POOL[2]], [], [POOL[3], POOL[1], POOL[2]]]
    vectors = table.lookup_lists(lists)
    assert [v.shape[0] for v in vectors] == [2, 0, 3]
    for chunks, looked_up in zip(lists, vectors, strict=True):
        if chunks:
            torch.testing.assert_close(looked_up, table.lookup(chunks), atol=1e-5, rtol=0)
    assert (table.hits, table.misses) == (2 + 2, 3 + 3)  # the lists, then the checks


def test_a_table_made_by_another_encoder_is_refused(make_tiny: Callable[..., TextEncoder]) -> None:
    pool = embed_texts(make_tiny(seed=2, scale=1.0), POOL, "float32", progress=False)
    pool.encoder = {**pool.encoder, "name_or_path": "all-MiniLM-L6-v2"}
    other = make_tiny(seed=2)
    with pytest.raises(
        QragInputError, match=r"training pool embeddings were made by encoder .*Fix: set embed\.encoder"
    ):
        ChunkTable.from_embeddings(other, pool)
