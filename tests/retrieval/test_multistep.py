"""Multi-step Q inference: precomputed, re-rotated embeddings score as from scratch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.lexical import LexicalIndex
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import embed_episodes
from qrag_pipeline.retrieval.multistep import (
    retrieve,
    retrieve_batch,
    step_q,
)
from qrag_pipeline.retrieval.trace import Trace, learned_stop
from qrag_pipeline.rl.inference import greedy_rollout
from tests.retrieval.conftest import episode, moves, small_episodes

STEP_SIZE = 20.0
BASE = 10000.0


def _positions_by_hand(n_chunks: int, retrieved: list[int]) -> list[float]:
    """docs/method.md's relative mapping: interval j between retrieved chunks spans
    [j*S, j*S + 0.9*S], evenly spaced (retrieved chunks get nan: they are masked)."""
    bounds = sorted(retrieved)
    positions = []
    for chunk in range(n_chunks):
        if chunk in bounds:
            positions.append(math.nan)
            continue
        j = sum(b < chunk for b in bounds)
        first = bounds[j - 1] + 1 if j else 0
        last = bounds[j] - 1 if j < len(bounds) else n_chunks - 1
        spacing = 0.9 * STEP_SIZE / (last - first) if last > first else 0.0
        positions.append(j * STEP_SIZE + (chunk - first) * spacing)
    return positions


def _rotate_by_hand(vector: np.ndarray, position: float) -> np.ndarray:
    """Rotary rotation, each twin half on its own: pair i turns by p * base^(-2i/d)."""
    out = vector.astype(np.float64).copy()
    half = len(vector) // 2
    for start in (0, half):
        for i in range(half // 2):
            angle = position * BASE ** (-2 * i / half)
            x, y = vector[start + 2 * i], vector[start + 2 * i + 1]
            out[start + 2 * i] = x * math.cos(angle) - y * math.sin(angle)
            out[start + 2 * i + 1] = x * math.sin(angle) + y * math.cos(angle)
    return out


@torch.no_grad()
def _scores_from_scratch(
    network: QNetwork, question: str, chunks: list[str], retrieved: list[int]
) -> np.ndarray:
    """Q of every available chunk with nothing precomputed: the state text joined by
    hand, each text encoded alone, positions and rotation by hand."""
    network.eval()
    state_text = " [SEP] ".join([question] + [chunks[i] for i in sorted(retrieved)])
    state = network.state_encoder([state_text])[0].double().numpy()
    positions = _positions_by_hand(len(chunks), retrieved)
    scores = np.full(len(chunks), -np.inf)
    for i, chunk in enumerate(chunks):
        if i not in retrieved:
            action = network.action_encoder([chunk])[0].numpy()
            scores[i] = state @ _rotate_by_hand(action, positions[i])
    return scores


def test_precomputed_rotated_scores_equal_scores_from_scratch_at_every_step(
    make_tiny_network,
) -> None:
    network = make_tiny_network(seed=3, scale=1.0)
    chunks = moves(9, 0) + ["The football is in the garden.", "Bill is tired."]
    question = "Where is the football?"
    precomputed = network.action_encoder.encode(chunks)
    trace = retrieve(network, question, chunks, precomputed, max_steps=5)
    for step in range(5):
        taken = trace.retrieved[:step]
        expected = _scores_from_scratch(network, question, chunks, taken)
        scores = step_q(network, question, chunks, precomputed, taken).double().numpy()
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)
        assert trace.retrieved[step] == int(np.argmax(expected))
        assert trace.q_values[step] == pytest.approx(expected.max(), abs=1e-5)


def test_a_trace_holds_distinct_picks_their_q_values_and_all_steps(
    make_tiny_network,
) -> None:
    network = make_tiny_network(seed=3)
    chunks = moves(12, 0)
    trace = retrieve(network, "Where is Mary?", chunks, network.action_encoder.encode(chunks), 4)
    assert isinstance(trace, Trace)
    assert len(trace.retrieved) == len(set(trace.retrieved)) == len(trace.q_values) == 4
    assert all(isinstance(i, int) for i in trace.retrieved)
    assert all(isinstance(q, float) for q in trace.q_values)
    assert learned_stop(trace, -math.inf) == trace.retrieved
    two = ["Mary went to the garden.", "John slept."]
    short = retrieve(network, "Where is Mary?", two, network.action_encoder.encode(two), 4)
    assert sorted(short.retrieved) == [0, 1] and len(short.q_values) == 2


def test_the_learned_stop_keeps_the_steps_before_the_first_q_under_the_threshold(
    make_tiny_network,
) -> None:
    network = make_tiny_network(seed=3)
    chunks = moves(12, 0)
    vectors = network.action_encoder.encode(chunks)
    free = retrieve(network, "Where is Mary?", chunks, vectors, 6)
    threshold = float(np.median(free.q_values))
    kept = learned_stop(free, threshold)
    assert all(q >= threshold for q in free.q_values[: len(kept)])
    assert free.q_values[len(kept)] < threshold
    assert kept == free.retrieved[: len(kept)]
    assert learned_stop(free, -1e9) == free.retrieved
    assert learned_stop(free, 1e9) == []


def test_retrieve_batch_equals_retrieve_one_episode_at_a_time(
    make_tiny_network,
) -> None:
    network = make_tiny_network(seed=3)
    episodes = small_episodes()
    embeddings = embed_episodes(network.action_encoder, episodes, dtype="float32", progress=False)
    tensors = [embeddings.of(e.id) for e in episodes]
    batched = retrieve_batch(network, episodes, embeddings, 4)
    from_list = retrieve_batch(network, episodes, tensors, 4)
    for e, vectors, trace, listed in zip(episodes, tensors, batched, from_list, strict=True):
        alone = retrieve(network, e.question, e.chunks, vectors, 4)
        assert trace.retrieved == listed.retrieved == alone.retrieved
        assert learned_stop(trace, 0.0) == learned_stop(alone, 0.0)
        np.testing.assert_allclose(trace.q_values, alone.q_values, atol=1e-5)


def test_embeddings_that_do_not_fit_the_chunks_are_refused(make_tiny_network) -> None:
    network = make_tiny_network(seed=3)
    episodes = small_episodes()
    with pytest.raises(QragInputError, match="has 12 chunks but its embeddings"):
        retrieve(network, "Where?", episodes[0].chunks, torch.zeros(11, 32), 2)
    with pytest.raises(QragInputError, match="2 embedding tensors for 3 episodes"):
        retrieve_batch(network, episodes, [torch.zeros(12, 32), torch.zeros(15, 32)], 2)


def test_greedy_rollout_is_unchanged_on_a_fixed_tiny_case(make_tiny_network) -> None:
    """Expected lists recorded with the implementation before `retrieval` existed."""
    network = make_tiny_network(seed=3)
    episodes = small_episodes()
    assert greedy_rollout(network, episodes, max_steps=4) == [
        [0, 4, 3, 1],
        [0, 14, 13, 1],
        [0, 1],
    ]
    assert greedy_rollout(make_tiny_network(seed=3, chunk_budget=3), episodes, 3) == [
        [0, 4, 3],
        [0, 14, 13],
        [0, 1],
    ]


def test_a_network_with_the_lexical_channel_scores_the_state_words_at_every_step(
    make_tiny_network,
) -> None:
    keys = [f"key{i:03d}x{i * 7919 % 1000:03d}" for i in range(40)]
    chunks = [f"The special magic number for {key} is {i}." for i, key in enumerate(keys)]
    question = f"What is the special magic number for {keys[23]}?"
    network = make_tiny_network(seed=2, frozen_action_encoder=True, lexical_weight=0.0)
    embeddings = network.action_encoder.encode(chunks)
    without = retrieve(network, question, chunks, embeddings, max_steps=1)
    with torch.no_grad():
        network.lexical_weight.fill_(50.0)  # the channel outweighs the random dense scores
    found = retrieve(network, question, chunks, embeddings, max_steps=2)
    assert found.retrieved[0] == 23 and without.retrieved[0] != 23
    batch = retrieve_batch(network, [episode("k", question, chunks)], [embeddings], max_steps=2)
    assert batch[0].retrieved == found.retrieved and batch[0].q_values == pytest.approx(found.q_values)
    index = LexicalIndex(chunks)
    for t, (pick, q_value) in enumerate(zip(found.retrieved, found.q_values, strict=True)):
        q = step_q(network, question, chunks, embeddings, found.retrieved[:t])
        assert int(q.argmax()) == pick and float(q.max()) == pytest.approx(q_value)
        indexed = step_q(network, question, chunks, embeddings, found.retrieved[:t], lexical=index)
        torch.testing.assert_close(indexed, q)
    with pytest.raises(QragInputError, match="lexical index holds 39 chunks but the document has 40"):
        step_q(network, question, chunks, embeddings, [], lexical=LexicalIndex(chunks[:-1]))
    with pytest.raises(QragInputError, match="lexical channel"):
        network.chunk_twin_q(network.state_encoder.encode([question])[0], embeddings, [])
