"""Checkpoints: self-contained safetensors + JSON folders; anything else is refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from qrag_pipeline.checkpoints import WEIGHTS_FILE, Checkpoint, load_checkpoint, save_checkpoint
from qrag_pipeline.datasets.checkpoint_dataset import QCheckpointDataset
from qrag_pipeline.errors import QragInputError

TEXTS = ["Mary went to the kitchen.", "Where is Mary?", "The hedgehog returned to the dune."]


def _scores(network) -> torch.Tensor:
    states = network.state_encoder.encode(TEXTS[1:2])
    return sum(
        network.twin_q(
            states, network.positioned_actions(network.action_encoder.encode(TEXTS), torch.tensor([0]))
        )
    )


def test_round_trip_rebuilds_the_same_network_with_its_training_state(
    make_tiny_network, tmp_path: Path
) -> None:
    network = make_tiny_network(seed=3)
    tensors = {"optimizer.0.exp_avg": torch.arange(4.0)}
    state = {"updates": 7, "history": [{"loss": 0.5}]}
    save_checkpoint(Checkpoint.from_network(network, tensors, state), tmp_path / "ck")
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.training_state == state
    assert torch.equal(loaded.training_tensors["optimizer.0.exp_avg"], torch.arange(4.0))
    rebuilt = loaded.build_network()
    assert torch.allclose(_scores(rebuilt), _scores(network), atol=1e-6)
    assert rebuilt.config() == network.config()
    # an inference-only checkpoint carries no training state
    save_checkpoint(Checkpoint.from_network(network), tmp_path / "inference")
    assert load_checkpoint(tmp_path / "inference").training_state == {}


def test_a_frozen_action_encoder_and_its_head_round_trip(make_tiny_network, tmp_path: Path) -> None:
    network = make_tiny_network(seed=3, frozen_action_encoder=True, action_head="linear", rotary_fraction=0.5)
    with torch.no_grad():
        network.action_head.weight.mul_(1.5)
    save_checkpoint(Checkpoint.from_network(network), tmp_path / "ck")
    rebuilt = load_checkpoint(tmp_path / "ck").build_network()
    assert rebuilt.config() == network.config()
    assert rebuilt.frozen_action_encoder and torch.equal(
        rebuilt.action_head.weight, network.action_head.weight
    )
    assert not any(p.requires_grad for p in rebuilt.action_encoder.parameters())
    assert torch.allclose(_scores(rebuilt), _scores(network), atol=1e-6)


def test_a_learned_lexical_weight_round_trips(make_tiny_network, tmp_path: Path) -> None:
    network = make_tiny_network(seed=3, frozen_action_encoder=True, lexical_weight=0.5)
    with torch.no_grad():
        network.lexical_weight.copy_(torch.tensor([0.25, 0.75]))
    save_checkpoint(Checkpoint.from_network(network), tmp_path / "ck")
    rebuilt = load_checkpoint(tmp_path / "ck").build_network()
    assert rebuilt.config()["lexical_weight"] == 0.5  # the starting value; the weights hold the learned one
    assert torch.equal(rebuilt.lexical_weight.detach(), torch.tensor([0.25, 0.75]))


def test_a_checkpoint_written_before_the_action_side_options_is_the_papers(
    make_tiny_network, tmp_path: Path
) -> None:
    checkpoint = Checkpoint.from_network(make_tiny_network(seed=3))
    for key in ("frozen_action_encoder", "action_head", "rotary_fraction", "lexical_weight"):
        del checkpoint.config[key]
    save_checkpoint(checkpoint, tmp_path / "old")
    rebuilt = load_checkpoint(tmp_path / "old").build_network()
    assert not rebuilt.frozen_action_encoder and rebuilt.action_head is None
    assert rebuilt.rotary_fraction == 1.0 and rebuilt.lexical_weight is None


def test_checkpoints_are_never_overwritten_and_a_failed_save_leaves_nothing(
    make_tiny_network, tmp_path: Path
) -> None:
    network = make_tiny_network()
    save_checkpoint(Checkpoint.from_network(network), tmp_path / "ck")
    with pytest.raises(QragInputError, match="exists already"):
        save_checkpoint(Checkpoint.from_network(network), tmp_path / "ck")
    broken = Checkpoint.from_network(network, training_tensors={"shared": torch.zeros(2)})
    broken.training_tensors["alias"] = broken.training_tensors["shared"]  # safetensors refuses shared memory
    with pytest.raises(RuntimeError, match="share memory"):
        save_checkpoint(broken, tmp_path / "partial")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_pickled_truncated_or_foreign_files_are_refused(make_tiny_network, tmp_path: Path) -> None:
    save_checkpoint(Checkpoint.from_network(make_tiny_network()), tmp_path / "ck")
    weights = tmp_path / "ck" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(QragInputError, match="truncated or not safetensors"):
        load_checkpoint(tmp_path / "ck")
    weights.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    with pytest.raises(QragInputError, match="pickled weights are refused"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(QragInputError, match="is not a Q-embedder checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "ck" / "config.json").write_text("{not json")
    with pytest.raises(QragInputError, match="cannot read checkpoint file"):
        load_checkpoint(tmp_path / "ck")


def test_kedro_dataset_versions_checkpoints(make_tiny_network, tmp_path: Path) -> None:
    from kedro.io import Version

    path = str(tmp_path / "q_embedder_checkpoint")
    first, second = make_tiny_network(seed=1), make_tiny_network(seed=2)
    QCheckpointDataset(path, Version(None, "2026-01-01T00.00.00.000Z")).save(Checkpoint.from_network(first))
    QCheckpointDataset(path, Version(None, "2026-01-02T00.00.00.000Z")).save(Checkpoint.from_network(second))
    latest = QCheckpointDataset(path, Version(None, None)).load().build_network()
    pinned = QCheckpointDataset(path, Version("2026-01-01T00.00.00.000Z", None)).load().build_network()
    assert torch.allclose(_scores(latest), _scores(second), atol=1e-6)
    assert torch.allclose(_scores(pinned), _scores(first), atol=1e-6)
    assert not QCheckpointDataset(str(tmp_path / "none"), Version(None, None)).exists()
