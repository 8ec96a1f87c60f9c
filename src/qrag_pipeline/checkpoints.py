"""Q-embedder checkpoints: safetensors weights plus JSON, never pickle.

A checkpoint is a folder that rebuilds the Q-network without the original model files
or the network (the encoder's architecture config and tokenizer travel with it) and,
when it carries a training state, resumes training exactly:

    config.json                  what rebuilds the network (QNetwork.config()), and the
                                 learned stop's thresholds chosen on validation
    model.safetensors            the online network's weights
    encoder/                     the transformer's config.json and tokenizer files
    training_state.safetensors   tensors training needs (target network, optimiser, RNG)
    training_state.json          the rest of it (update counter, schedules, RNG states)

Loading reads only these files, with safetensors and json: nothing in a checkpoint can
execute code. A folder is written under a temporary name and renamed when complete, so
a crash never leaves a half-written checkpoint where a reader would find it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.json_files import read_json_object
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import ARCHITECTURE, QNetwork
from qrag_pipeline.staging import staged

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ENCODER_DIR = "encoder"
TRAINING_TENSORS_FILE = "training_state.safetensors"
TRAINING_JSON_FILE = "training_state.json"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """Everything a checkpoint folder holds, in memory.

    `training_tensors` and `training_state` are empty for a model saved for inference
    only; resuming needs both.
    """

    config: dict[str, Any]
    weights: dict[str, Tensor]
    encoder_config: dict[str, Any]
    tokenizer: Any
    training_tensors: dict[str, Tensor] = field(default_factory=dict)
    training_state: dict[str, Any] = field(default_factory=dict)
    stop_thresholds: dict[str, float] = field(default_factory=dict)
    """The learned stop's threshold per benchmark (and "all"), chosen on validation
    episodes after training; empty for a checkpoint saved before that choice."""
    source: str = "a checkpoint"
    """Where it was read from, for error messages."""

    @classmethod
    def from_network(
        cls,
        network: QNetwork,
        training_tensors: dict[str, Tensor] | None = None,
        training_state: dict[str, Any] | None = None,
        stop_thresholds: dict[str, float] | None = None,
    ) -> Checkpoint:
        """A checkpoint of `network` (weights copied to the CPU)."""
        return cls(
            config=network.config(),
            weights=_cpu_contiguous(network.state_dict()),
            encoder_config=network.state_encoder.model.config.to_dict(),
            tokenizer=network.state_encoder.tokenizer,
            training_tensors=_cpu_contiguous(training_tensors or {}),
            training_state=dict(training_state or {}),
            stop_thresholds=dict(stop_thresholds or {}),
        )

    def build_network(self, device: torch.device | str = "cpu") -> QNetwork:
        """The Q-network with these weights, built from the checkpoint alone.

        Nothing here runs code from the checkpoint: the encoder is built from its
        architecture config with the library's own classes (an edited config that
        names a model type of its own is refused, not imported).
        """
        try:
            encoders = [self._build_encoder() for _ in range(2)]
            network = QNetwork(*encoders, **self._architecture())
        except QragInputError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise QragInputError(
                f"the config of {self.source} does not describe a Q-network "
                f"({type(error).__name__}: {str(error)[:300]}). Fix: its config.json or "
                "encoder/config.json is damaged or was edited; use another checkpoint or "
                "retrain."
            ) from error
        try:
            network.load_state_dict(self.weights, strict=True)
        except RuntimeError as error:
            raise QragInputError(
                f"the weights of {self.source} do not fit the network its config "
                f"describes: {str(error)[:300]}. Fix: the checkpoint is damaged or mixed "
                "from two runs; use another one."
            ) from error
        return network.to(device)

    def _architecture(self) -> dict[str, Any]:
        """QNetwork's settings as the config holds them (`ARCHITECTURE`; a KeyError for
        a config without the first three). A checkpoint made before the network held
        its chunk budget recorded it with the learner's settings."""
        architecture = {key: self.config[key] for key in ARCHITECTURE[:3]}
        architecture |= {key: self.config[key] for key in ARCHITECTURE[3:] if key in self.config}
        recorded = self.training_state.get("learning", {}).get("chunk_budget")
        if "chunk_budget" not in architecture and isinstance(recorded, int):
            architecture["chunk_budget"] = recorded
        return architecture

    def _build_encoder(self) -> TextEncoder:
        config_dict = dict(self.encoder_config)
        config = transformers.AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
        return TextEncoder(
            transformers.AutoModel.from_config(config),
            self.tokenizer,
            scale=self.config["scale"],
            max_length=self.config["max_length"],
            name_or_path=self.config["name_or_path"],
            num_layers=self.config["num_layers"],
        )


def tensors_with_prefix(tensors: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The tensors whose names start with `prefix`, named without it: one part (online
    weights, optimizer moments, ...) of a checkpoint's flat training tensors."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def save_checkpoint(checkpoint: Checkpoint, directory: str | Path) -> Path:
    """Write `checkpoint` to `directory` (which must not exist yet), atomically."""
    directory = Path(directory)
    if directory.exists():
        raise QragInputError(
            f"checkpoint folder {str(directory)!r} exists already; checkpoints are never "
            "overwritten. Fix: save under a new name (versioned datasets do this)."
        )
    with staged(directory) as staging:
        staging.mkdir()
        _write_json(
            staging / CONFIG_FILE,
            {
                "format_version": FORMAT_VERSION,
                **checkpoint.config,
                "stop_thresholds": checkpoint.stop_thresholds,
            },
        )
        save_file(checkpoint.weights, str(staging / WEIGHTS_FILE))
        encoder_dir = staging / ENCODER_DIR
        encoder_dir.mkdir()
        _write_json(encoder_dir / CONFIG_FILE, checkpoint.encoder_config)
        checkpoint.tokenizer.save_pretrained(str(encoder_dir))
        if checkpoint.training_tensors or checkpoint.training_state:
            save_file(checkpoint.training_tensors, str(staging / TRAINING_TENSORS_FILE))
            _write_json(staging / TRAINING_JSON_FILE, checkpoint.training_state)
    return directory


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Read a checkpoint folder; a missing, truncated or foreign file is a clear error."""
    directory = Path(directory)
    if not (directory / CONFIG_FILE).is_file():
        raise QragInputError(
            f"{str(directory)!r} is not a Q-embedder checkpoint (no {CONFIG_FILE}). Fix: "
            "give a folder written by train_q (data/06_models/q_embedder_checkpoint/...)."
        )
    config = _read_json(directory / CONFIG_FILE)
    if config.pop("format_version", None) != FORMAT_VERSION:
        raise QragInputError(
            f"checkpoint {str(directory)!r} has format version other than "
            f"{FORMAT_VERSION}. Fix: retrain, or load it with the version that wrote it."
        )
    has_training_state = (directory / TRAINING_JSON_FILE).is_file()
    thresholds = config.pop("stop_thresholds", {})
    if not isinstance(thresholds, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in thresholds.values()
    ):
        raise QragInputError(
            f"checkpoint {str(directory)!r} has stop_thresholds {thresholds!r}, not a "
            "mapping of benchmark to number. Fix: its config.json was edited or is "
            "damaged; use another checkpoint or retrain."
        )
    return Checkpoint(
        config=config,
        weights=_read_tensors(directory / WEIGHTS_FILE),
        encoder_config=_read_json(directory / ENCODER_DIR / CONFIG_FILE),
        tokenizer=_read_tokenizer(directory / ENCODER_DIR),
        training_tensors=_read_tensors(directory / TRAINING_TENSORS_FILE) if has_training_state else {},
        training_state=_read_json(directory / TRAINING_JSON_FILE) if has_training_state else {},
        stop_thresholds={str(k): float(v) for k, v in thresholds.items()},
        source=f"checkpoint {str(directory)!r}",
    )


def _cpu_contiguous(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True))


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(
        path, "checkpoint file", "the checkpoint is incomplete or damaged; use another one or retrain."
    )


def _read_tensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise QragInputError(
            f"cannot read checkpoint weights {str(path)!r}: {error}. Fix: the file is "
            "missing, truncated or not safetensors (pickled weights are refused); use "
            "another checkpoint or retrain."
        ) from error


def _read_tokenizer(directory: Path) -> Any:
    try:
        return transformers.AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
    except Exception as error:  # noqa: BLE001 - tokenizers raises bare Exception, KeyError...
        raise QragInputError(
            f"cannot read the tokenizer in {str(directory)!r}: {error}. Fix: the "
            "checkpoint is incomplete or damaged; use another one or retrain."
        ) from error
