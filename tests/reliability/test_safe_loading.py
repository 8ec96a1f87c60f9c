"""Safe loading: checkpoints are safetensors plus JSON, nothing loaded can run code.

- A checkpoint folder (inference and training state) holds only .safetensors and
  .json files; the saved parameters are YAML, read by OmegaConf (safe loader).
- Loading a checkpoint, building its network and resuming a run from it never
  unpickle: pickle's and torch's loaders are booby-trapped meanwhile.
- A pickled file carrying a payload (it would create a marker file if unpickled) in
  place of the weights, of the training state, or given as a `pytorch_model.bin`
  beside no safetensors, is refused with a clear error, and the payload never runs;
  also through Kedro (embed reading such a checkpoint: the error, nothing written).
  (A plain pickled model.safetensors and a truncated one are in tests/test_checkpoints.py.)
- Tampered checkpoints are refused with a clear error naming the checkpoint: a
  weight of another shape, a renamed weight, a changed format version, a config
  missing a key, an encoder config naming a model type with its own code (never
  imported), a tokenizer file that is not a tokenizer, a corrupted safetensors header.
- No source file calls torch.load, pickle, numpy's allow_pickle=True, yaml's unsafe
  loaders, eval/exec, or sets trust_remote_code=True.
- trust_remote_code is false in every environment's parameters; at that default a
  model folder that needs its own code is refused (encoder, train_q through Kedro,
  the LLM reader) and its code never runs; setting the parameter to true passes it on
  to transformers (captured, not executed).
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from kedro.config import OmegaConfigLoader
from safetensors.torch import load_file, save_file

from qrag_pipeline.checkpoints import (
    CONFIG_FILE,
    ENCODER_DIR,
    TRAINING_TENSORS_FILE,
    WEIGHTS_FILE,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from qrag_pipeline.cli_hooks import input_error_in
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models import encoder as encoder_module
from qrag_pipeline.models.encoder import DEFAULT_ENCODER, TextEncoder, resolve_encoder_path
from qrag_pipeline.readers.llm_reader import LLMReader
from qrag_pipeline.settings import CONFIG_LOADER_ARGS
from tests.conftest import PROJECT_ROOT, data_files
from tests.projects import latest, make_project, run_stage


class Payload:
    """Unpickling this creates `marker`: proof that a loader ran a pickle's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def checkpoint(make_tiny_network, tmp_path: Path) -> Path:
    """A tiny checkpoint with a training state."""
    network = make_tiny_network(seed=4)
    tensors = {"optimizer.0.exp_avg": torch.ones(3)}
    return save_checkpoint(Checkpoint.from_network(network, tensors, {"updates": 2}), tmp_path / "ck")


def test_a_checkpoint_is_safetensors_and_json_only(checkpoint: Path) -> None:
    files = sorted(str(p.relative_to(checkpoint)) for p in checkpoint.rglob("*") if p.is_file())
    assert files == [
        "config.json",
        "encoder/config.json",
        "encoder/tokenizer.json",
        "encoder/tokenizer_config.json",
        "model.safetensors",
        "training_state.json",
        "training_state.safetensors",
    ]


def test_loading_building_and_resuming_never_unpickle(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def trap(*args, **kwargs):
        raise AssertionError("a loader unpickled")

    for owner, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(owner, name, trap)
    loaded = load_checkpoint(checkpoint)
    loaded.build_network().state_encoder.encode(["Where is Mary?"])
    assert loaded.training_state == {"updates": 2}


@pytest.mark.parametrize("replaced", [WEIGHTS_FILE, TRAINING_TENSORS_FILE, "pytorch_model.bin"])
def test_a_pickled_file_is_refused_and_its_payload_never_runs(
    checkpoint: Path, replaced: str, tmp_path: Path
) -> None:
    marker = tmp_path / "payload_ran"
    if replaced == "pytorch_model.bin":  # pickled weights beside no safetensors file
        (checkpoint / WEIGHTS_FILE).unlink()
    (checkpoint / replaced).write_bytes(pickle.dumps(Payload(marker)))

    with pytest.raises(
        QragInputError, match=r"cannot read checkpoint weights .*Fix: .*pickled weights are refused"
    ):
        load_checkpoint(checkpoint)
    assert not marker.exists()


def test_kedro_refuses_a_pickled_checkpoint_and_writes_nothing(trained_project: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", data_from=trained_project)
    marker = tmp_path / "payload_ran"
    weights = latest(project, "q_embedder_checkpoint") / WEIGHTS_FILE
    weights.write_bytes(pickle.dumps(Payload(marker)))
    before = data_files(project)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - Kedro wraps it: DatasetError
        run_stage(project, "evaluate")

    error = input_error_in(raised.value)
    assert error is not None and str(weights) in str(error) and "pickled weights are refused" in str(error)
    assert not marker.exists()
    assert data_files(project) == before


def _edit_weights(checkpoint: Path, edit) -> None:
    weights = load_file(str(checkpoint / WEIGHTS_FILE))
    edit(weights)
    save_file(weights, str(checkpoint / WEIGHTS_FILE))


def _edit_json(path: Path, edit) -> None:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


def _first_weight(weights: dict) -> str:
    return sorted(weights)[0]


def _foreign_model_type(checkpoint: Path, marker: Path) -> None:
    (checkpoint / ENCODER_DIR / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    )
    _edit_json(
        checkpoint / ENCODER_DIR / CONFIG_FILE,
        lambda c: c.update(
            model_type="evil-bert", auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
        ),
    )


TAMPERING = {
    "weight_of_another_shape": (
        lambda ck, marker: _edit_weights(ck, lambda w: w.update({_first_weight(w): torch.zeros(3, 3)})),
        r"the weights of checkpoint '.*ck' do not fit the network its config describes",
    ),
    "weight_renamed": (
        lambda ck, marker: _edit_weights(ck, lambda w: w.update({"extra.weight": w.pop(_first_weight(w))})),
        r"the weights of checkpoint '.*ck' do not fit",
    ),
    "format_version_changed": (
        lambda ck, marker: _edit_json(ck / CONFIG_FILE, lambda c: c.update(format_version=99)),
        r"checkpoint '.*ck' has format version other than 1",
    ),
    "config_missing_a_key": (
        lambda ck, marker: _edit_json(ck / CONFIG_FILE, lambda c: c.pop("position_mode")),
        r"the config of checkpoint '.*ck' does not describe a Q-network \(KeyError: 'position_mode'\)",
    ),
    "encoder_config_with_its_own_code": (
        _foreign_model_type,
        r"the config of checkpoint '.*ck' does not describe a Q-network \(ValueError",
    ),
    "tokenizer_file_not_a_tokenizer": (
        lambda ck, marker: (ck / ENCODER_DIR / "tokenizer.json").write_text('{"a": 1}'),
        r"cannot read the tokenizer in '.*encoder'",
    ),
    "safetensors_header_corrupted": (
        lambda ck, marker: (ck / WEIGHTS_FILE).write_bytes(
            b"\xff" * 8 + (ck / WEIGHTS_FILE).read_bytes()[8:]
        ),
        r"cannot read checkpoint weights '.*model.safetensors'",
    ),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_a_tampered_checkpoint_is_refused_with_a_clear_error(
    checkpoint: Path, name: str, tmp_path: Path
) -> None:
    tamper, expected = TAMPERING[name]
    marker = tmp_path / "code_ran"
    tamper(checkpoint, marker)
    with pytest.raises(QragInputError, match=expected) as raised:
        load_checkpoint(checkpoint).build_network()
    assert " Fix: " in str(raised.value)
    assert not marker.exists()


UNSAFE = {
    "torch.load": r"torch\.load\(",
    "pickle": r"\bimport pickle\b|\bpickle\.(loads?|Unpickler)\b",
    "allow_pickle=True": r"allow_pickle\s*=\s*True",
    "weights_only=False": r"weights_only\s*=\s*False",
    "yaml unsafe load": r"yaml\.(unsafe_load|load)\(|UnsafeLoader|FullLoader",
    "eval/exec": r"(?<![\w.])(eval|exec)\(",
    "trust_remote_code=True": r"trust_remote_code\s*=\s*True",
}


def test_no_source_file_loads_unsafely() -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {what}"
        for path in sorted((PROJECT_ROOT / "src").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for what, pattern in UNSAFE.items()
        if re.search(pattern, line.split("#", 1)[0])
    ]
    assert not found, found


@pytest.mark.parametrize("env", ["local", "tiny", "paper"])
def test_trust_remote_code_is_off_in_every_environment(env: str) -> None:
    parameters = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"]
    assert parameters["train_q"]["model"]["trust_remote_code"] is False
    assert parameters["embed"]["encoder"]["trust_remote_code"] is False


@pytest.fixture
def model_with_its_own_code(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder whose config asks for code of its own, which would leave a marker."""
    folder, marker = tmp_path / "custom_model", tmp_path / "code_ran"
    folder.mkdir()
    source = Path(resolve_encoder_path(DEFAULT_ENCODER))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(source / name, folder / name)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil-bert",
                "hidden_size": 32,
                "auto_map": {
                    "AutoConfig": "evil.EvilConfig",
                    "AutoModel": "evil.EvilModel",
                    "AutoModelForCausalLM": "evil.EvilModel",
                },
            }
        )
    )
    (folder / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    return folder, marker


def test_a_model_that_needs_its_own_code_is_refused_by_default(
    model_with_its_own_code: tuple[Path, Path], prepared_project: Path, tmp_path: Path
) -> None:
    folder, marker = model_with_its_own_code
    with pytest.raises(
        QragInputError, match=r"needs to run Python code from its own folder.*Fix: .*trust_remote_code"
    ):
        TextEncoder.from_pretrained(str(folder))
    with pytest.raises(QragInputError, match="cannot load the reader model"):
        LLMReader.from_pretrained(folder, device="cpu")
    project = make_project(tmp_path / "project", data_from=prepared_project)
    with pytest.raises(
        QragInputError, match=re.escape(f"the encoder at '{folder}' needs to run Python code")
    ):
        run_stage(project, "train_q", {"train_q": {"resume": False, "model": {"name_or_path": str(folder)}}})
    assert not marker.exists()


def test_the_trust_remote_code_parameter_turns_it_on(
    model_with_its_own_code: tuple[Path, Path],
    prepared_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What transformers is asked for, captured before it would import anything."""
    folder, marker = model_with_its_own_code
    asked: list[bool] = []

    class Capture:
        @staticmethod
        def from_pretrained(path, **kwargs):
            asked.append(kwargs["trust_remote_code"])
            raise OSError("captured")

    monkeypatch.setattr(encoder_module, "AutoModel", Capture)
    project = make_project(tmp_path / "project", data_from=prepared_project)
    for trust in (False, True):
        with pytest.raises(QragInputError, match="captured"):
            run_stage(
                project,
                "train_q",
                {
                    "train_q": {
                        "resume": False,
                        "model": {"name_or_path": str(folder), "trust_remote_code": trust},
                    }
                },
            )
    assert asked == [False, True]
    assert not marker.exists()
