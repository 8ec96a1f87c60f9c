"""The evaluate stage's Q-RAG node and the chunk budget its checkpoint was trained with."""

from __future__ import annotations

import pytest
import yaml

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.episodes import Episode, episodes_to_frame
from qrag_pipeline.pipelines.evaluate.nodes import retrieve_with_q_embedder
from qrag_pipeline.retrieval.embeddings import embed_episodes
from qrag_pipeline.retrieval.multistep import retrieve
from tests.conftest import PROJECT_ROOT

CHUNKS = ["John picked up the football there.", "Mary went to the garden.", "John went to the kitchen."]


@pytest.fixture
def evaluate() -> dict:
    conf = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_evaluate.yml").read_text())["evaluate"]
    return {**conf, "device": "cpu", "progress": False, "max_steps": 2}


def test_q_rag_is_evaluated_with_the_chunk_budget_its_checkpoint_was_trained_with(
    make_tiny_network, evaluate: dict
) -> None:
    episodes = [Episode("e", "babilong", "qa2", "1k", "Where is the football?", "kitchen", CHUNKS, [0, 2])]
    q_values = {}
    for budget in (2, 64):
        network = make_tiny_network(seed=1, chunk_budget=budget)
        pretrained = embed_episodes(network.action_encoder, episodes, "float32", progress=False)
        traces = retrieve_with_q_embedder(
            episodes_to_frame(episodes), pretrained, Checkpoint.from_network(network), evaluate
        )
        expected = retrieve(network, episodes[0].question, CHUNKS, network.action_encoder.encode(CHUNKS), 2)
        assert list(traces.q_values[0]) == pytest.approx(expected.q_values, abs=1e-6)
        q_values[budget] = expected.q_values
    assert q_values[2][1] != pytest.approx(q_values[64][1], abs=1e-6)  # the budget shapes the second state
