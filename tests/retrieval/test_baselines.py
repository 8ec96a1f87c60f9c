"""The untrained baselines on hand-built documents whose answers are known."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import DEFAULT_ENCODER, TextEncoder
from qrag_pipeline.retrieval.baselines import dense_top_k, multistep_dense, tfidf_top_k
from qrag_pipeline.retrieval.trace import Trace
from tests.retrieval.conftest import episode

# "Where is the football?" needs chunk 1 (John has it) and then chunk 4 (John's move).
TWO_HOPS = [
    "The sun rose over the quiet hills.",
    "John picked up the football.",
    "Mary went to the garden.",
    "The old miller counted his sacks of flour.",
    "John travelled to the kitchen.",
    "Rain fell on the roofs of the town.",
    "Sandra journeyed to the office.",
]
QUESTION = "Where is the football?"


@pytest.fixture(scope="module")
def pretrained() -> TextEncoder:
    """The real default encoder, the one the baselines use."""
    return TextEncoder.from_pretrained(DEFAULT_ENCODER)


def test_tfidf_ranks_the_lexically_matching_chunk_first() -> None:
    document = episode("e", "Who picked up the football?", TWO_HOPS)
    assert tfidf_top_k(document, 1).retrieved == [1]
    ranked = tfidf_top_k(document, 100)
    assert sorted(ranked.retrieved) == list(range(len(TWO_HOPS)))
    assert ranked.retrieved[0] == 1
    assert ranked.q_values == sorted(ranked.q_values, reverse=True)
    unrelated = episode("u", "Zebra?", ["Alpha beta.", "Gamma delta.", "Epsilon."])
    # no match at all: every cosine is 0 and ties keep document order
    assert tfidf_top_k(unrelated, 2) == Trace([0, 1], [0.0, 0.0])
    with pytest.raises(QragInputError, match="at least 1 chunk"):
        tfidf_top_k(document, 0)


def test_dense_top_k_through_faiss_equals_a_numpy_argsort() -> None:
    generator = np.random.default_rng(0)
    chunks = generator.standard_normal((500, 48)).astype(np.float32)
    question = generator.standard_normal(48).astype(np.float32)
    expected = np.argsort(-(chunks @ question))
    for k in (1, 7, 500):
        found = dense_top_k(question, chunks, k)
        assert found.retrieved == expected[:k].tolist()
        scores = (chunks @ question)[expected[:k]]
        np.testing.assert_allclose(found.q_values, scores, rtol=1e-5, atol=1e-5)
    assert (
        dense_top_k(torch.from_numpy(question), torch.from_numpy(chunks), 10).retrieved
        == expected[:10].tolist()
    )
    assert len(dense_top_k(question, chunks[:3], 10).retrieved) == 3


def test_multistep_dense_queries_with_what_it_found_and_follows_the_second_hop(
    pretrained: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk_embeddings = pretrained.encode(TWO_HOPS)
    queries: list[str] = []
    original = pretrained.encode

    def recording(texts: Sequence[str], *args: object, **kwargs: object) -> torch.Tensor:
        queries.extend(texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(pretrained, "encode", recording)
    trace = multistep_dense(pretrained, QUESTION, TWO_HOPS, chunk_embeddings, 3, chunk_budget=64)
    found = trace.retrieved
    assert len(queries) == 3 and queries[0] == QUESTION
    assert TWO_HOPS[found[0]] in queries[1] and queries[1].startswith(QUESTION)
    assert found[:2] == [1, 4] and len(set(found)) == 3
    single_step = dense_top_k(original([QUESTION])[0], chunk_embeddings, 3).retrieved
    assert single_step[0] == 1 and 4 not in single_step
