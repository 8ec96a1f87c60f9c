"""The action head on a frozen action encoder: identity at the start, half by half."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.action_head import TwinLinearHead, build_action_head
from qrag_pipeline.models.q_network import QNetwork

MakeNetwork = Callable[..., QNetwork]
CHUNKS = ["Mary went to the kitchen.", "The sky is blue.", "John took the apple there."]


def _q(network: QNetwork, question: str, retrieved: list[int]) -> torch.Tensor:
    with torch.no_grad():
        state = network.state_encoder.encode([network.state_text(question, CHUNKS, retrieved)])
        actions = network.positioned_actions(
            network.action_encoder.encode(CHUNKS), torch.tensor(retrieved, dtype=torch.long)
        )
        return sum(network.twin_q(state, actions))


def test_an_untrained_head_leaves_q_that_of_the_pretrained_pair(make_tiny_network: MakeNetwork) -> None:
    plain = make_tiny_network(seed=3)
    headed = make_tiny_network(seed=3, frozen_action_encoder=True, action_head="linear")
    for retrieved in ([], [2], [0, 2]):
        torch.testing.assert_close(
            _q(headed, "Where is Mary?", retrieved), _q(plain, "Where is Mary?", retrieved), atol=1e-7, rtol=0
        )


def test_the_head_maps_each_twin_half_on_its_own() -> None:
    head = TwinLinearHead(8, n_halves=2)
    with torch.no_grad():
        head.weight[0] *= 2.0
    vectors = torch.arange(16, dtype=torch.float32).reshape(2, 8)
    mapped = head(vectors)
    torch.testing.assert_close(mapped[:, :4], 2 * vectors[:, :4])
    torch.testing.assert_close(mapped[:, 4:], vectors[:, 4:])


def test_a_frozen_action_encoder_takes_no_gradient(make_tiny_network: MakeNetwork) -> None:
    network = make_tiny_network(frozen_action_encoder=True, action_head="linear")
    assert not any(p.requires_grad for p in network.action_encoder.parameters())
    assert all(p.requires_grad for p in network.state_encoder.parameters())
    assert network.action_head is not None and network.action_head.weight.requires_grad
    assert network.config()["frozen_action_encoder"] is True
    assert network.config()["action_head"] == "linear"


def test_an_unknown_head_is_one_clear_error() -> None:
    assert build_action_head("none", 8, 2) is None
    with pytest.raises(QragInputError, match=r"unknown action head 'mlp'\. Fix: use one of none, linear"):
        build_action_head("mlp", 8, 2)
