"""QNetwork: state text, precomputed chunk embeddings, twin heads, positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.positions import chunk_positions
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.models.rotary import rotate
from tests.conftest import TinyFactory

QUESTION = "Where is the football?"
CHUNKS = [
    "Mary moved to the bathroom.",
    "John picked up the football there.",
    "The rain fell all night on the old town.",
    "John went to the hallway.",
    "Sandra journeyed to the garden.",
    "It was a bright cold day in April.",
    "John travelled to the office.",
    "Daniel went back to the kitchen.",
]


@pytest.fixture
def network(make_tiny: TinyFactory) -> QNetwork:
    return QNetwork(make_tiny(seed=0), make_tiny(seed=1)).eval()


def _scores(network: QNetwork, chunks: list[str], retrieved: list[int]) -> torch.Tensor:
    state = network.state_encoder([network.state_text(QUESTION, chunks, retrieved)])
    actions = network.positioned_actions(
        network.action_encoder.encode(chunks), torch.tensor(retrieved, dtype=torch.long)
    )
    return sum(network.twin_q(state, actions))[0].detach()


def test_state_text_orders_chunks_by_document_position(network: QNetwork) -> None:
    text = network.state_text(QUESTION, CHUNKS, [3, 1])
    assert text == f"{QUESTION} [SEP] {CHUNKS[1]} [SEP] {CHUNKS[3]}"
    assert network.state_text(QUESTION, CHUNKS, []) == QUESTION


def test_state_text_truncates_each_chunk_to_its_budget(network: QNetwork) -> None:
    budgeted = QNetwork(network.state_encoder, network.action_encoder, chunk_budget=3)
    text = budgeted.state_text(QUESTION, CHUNKS, [2, 0])
    assert text == f"{QUESTION} [SEP] Mary moved to [SEP] The rain fell"


def test_precomputed_embeddings_score_like_embeddings_from_scratch(
    network: QNetwork,
) -> None:
    retrieved = torch.tensor([5, 1])
    state = network.state_encoder([network.state_text(QUESTION, CHUNKS, [5, 1])])
    precomputed = network.positioned_actions(network.action_encoder.encode(CHUNKS), retrieved)
    positions = chunk_positions("relative", len(CHUNKS), retrieved)
    from_scratch = rotate(network.action_encoder(CHUNKS), positions)
    torch.testing.assert_close(
        sum(network.twin_q(state, precomputed)),
        sum(network.twin_q(state, from_scratch)),
        atol=1e-5,
        rtol=0,
    )


def test_twin_heads_are_dot_products_of_the_halves(network: QNetwork) -> None:
    torch.manual_seed(3)
    states, actions = torch.randn(3, 32), torch.randn(8, 32)
    q1, q2 = network.twin_q(states, actions)
    torch.testing.assert_close(q1, states[:, :16] @ actions[:, :16].T)
    torch.testing.assert_close(q2, states[:, 16:] @ actions[:, 16:].T)
    torch.testing.assert_close(sum(network.twin_q(states, actions)), states @ actions.T)
    per_state = network.twin_q(states, actions.expand(3, 8, 32))
    torch.testing.assert_close(per_state[0], q1)
    torch.testing.assert_close(per_state[1], q2)


def test_chunk_twin_q_scores_one_document_for_one_state(network: QNetwork) -> None:
    embeddings = network.action_encoder.encode(CHUNKS)
    state = network.state_encoder.encode([network.state_text(QUESTION, CHUNKS, [4, 2])])
    q1, q2 = network.chunk_twin_q(state[0], embeddings, [4, 2])
    expected = network.twin_q(state, network.positioned_actions(embeddings, torch.tensor([4, 2])))
    assert q1.shape == q2.shape == (len(CHUNKS),)
    assert torch.equal(q1, expected[0][0]) and torch.equal(q2, expected[1][0])


def test_gradient_reaches_the_state_encoder_through_precomputed_actions(
    network: QNetwork,
) -> None:
    network.train()
    state = network.state_encoder([network.state_text(QUESTION, CHUNKS, [1])])
    actions = network.positioned_actions(network.action_encoder.encode(CHUNKS), torch.tensor([1]))
    sum(network.twin_q(state, actions)).sum().backward()
    state_weights = network.state_encoder.model.embeddings.word_embeddings.weight
    action_weights = network.action_encoder.model.embeddings.word_embeddings.weight
    assert state_weights.grad is not None and action_weights.grad is None


def test_retrieving_a_chunk_changes_the_scores_after_it(network: QNetwork) -> None:
    before = _scores(network, CHUNKS, [])
    after = _scores(network, CHUNKS, [1])
    assert not torch.allclose(before[2:], after[2:], atol=1e-4)


def test_relative_scores_inside_an_interval_ignore_what_lies_before_it(
    make_tiny: TinyFactory,
) -> None:
    prefix = ["An extra sentence.", "Another one, earlier in the book.", "A third."]
    longer = prefix + CHUNKS
    relative = QNetwork(make_tiny(seed=0), make_tiny(seed=1)).eval()
    tail = _scores(relative, CHUNKS, [1])[2:]
    shifted_tail = _scores(relative, longer, [1 + len(prefix)])[2 + len(prefix) :]
    torch.testing.assert_close(tail, shifted_tail, atol=1e-5, rtol=0)
    assert torch.equal(tail.argsort(), shifted_tail.argsort())
    absolute = QNetwork(make_tiny(seed=0), make_tiny(seed=1), position_mode="absolute").eval()
    absolute_tail = _scores(absolute, CHUNKS, [1])[2:]
    absolute_shifted = _scores(absolute, longer, [1 + len(prefix)])[2 + len(prefix) :]
    assert not torch.allclose(absolute_tail, absolute_shifted, atol=1e-4)


def test_no_positions_leave_embeddings_unrotated(make_tiny: TinyFactory) -> None:
    network = QNetwork(make_tiny(seed=0), make_tiny(seed=1), position_mode="none")
    embeddings = torch.randn(5, 32)
    torch.testing.assert_close(network.positioned_actions(embeddings, torch.tensor([2])), embeddings)


def test_from_pretrained_makes_two_independent_copies_and_round_trips(
    tiny_dir: Path,
) -> None:
    network = QNetwork.from_pretrained(str(tiny_dir), num_layers=1, step_size=10.0)
    state_weights = network.state_encoder.model.embeddings.word_embeddings.weight
    action_weights = network.action_encoder.model.embeddings.word_embeddings.weight
    assert torch.equal(state_weights, action_weights)
    assert state_weights.data_ptr() != action_weights.data_ptr()
    config = network.config()
    assert json.loads(json.dumps(config)) == config
    assert config["step_size"] == 10.0 and config["position_mode"] == "relative"
    rebuilt = QNetwork.from_pretrained(**config)
    rebuilt.load_state_dict(network.state_dict())
    assert rebuilt.config() == config


def test_bad_mode_and_dimensions_are_refused(make_tiny: TinyFactory) -> None:
    with pytest.raises(QragInputError, match="relative, absolute, none"):
        QNetwork(make_tiny(), make_tiny(), position_mode="rope")
    with pytest.raises(QragInputError, match="got 32 and 36"):
        QNetwork(make_tiny(), make_tiny(hidden_size=36))
    with pytest.raises(QragInputError, match="divisible by 4"):
        QNetwork(make_tiny(hidden_size=34), make_tiny(hidden_size=34))
