"""The evaluate stage's Q-RAG node and the chunk budget its checkpoint was trained with."""

from __future__ import annotations

import logging

import pytest
import yaml

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.episodes import Episode, episodes_to_frame
from qrag_pipeline.pipelines.evaluate.nodes import retrieve_with_q_embedder
from qrag_pipeline.retrieval.embeddings import embed_episodes
from tests.conftest import PROJECT_ROOT

CHUNKS = ["John picked up the football there.", "Mary went to the garden.", "John went to the kitchen."]


@pytest.fixture
def evaluate() -> dict:
    conf = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_evaluate.yml").read_text())["evaluate"]
    return {**conf, "device": "cpu", "progress": False, "max_steps": 2}


@pytest.mark.parametrize(("trained", "warned"), [(64, False), (128, True)])
def test_a_budget_unlike_the_checkpoints_is_logged_with_the_fix(
    make_tiny_network, evaluate: dict, caplog: pytest.LogCaptureFixture, trained: int, warned: bool
) -> None:
    network = make_tiny_network(seed=1)
    checkpoint = Checkpoint.from_network(network, training_state={"learning": {"chunk_budget": trained}})
    episodes = [Episode("e", "babilong", "qa2", "1k", "Where is the football?", "kitchen", CHUNKS, [0, 2])]
    pretrained = embed_episodes(network.action_encoder, episodes, "float32", progress=False)

    with caplog.at_level(logging.WARNING):
        traces = retrieve_with_q_embedder(episodes_to_frame(episodes), pretrained, checkpoint, evaluate)

    assert len(traces.retrieved[0]) == 2
    fixes = [r.getMessage() for r in caplog.records if "evaluate.chunk_budget" in r.getMessage()]
    assert bool(fixes) == warned
    if warned:
        assert "trained with 128" in fixes[0] and "--params evaluate.chunk_budget=128" in fixes[0]
