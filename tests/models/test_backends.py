"""The inference backends: bfloat16 embeddings within their bound, "auto" resolved by
the hardware, torch passed through, clear errors and warnings."""

from __future__ import annotations

import logging

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models import backends
from qrag_pipeline.models.backends import inference_encoder, resolve_backend
from qrag_pipeline.models.bfloat16_encoder import Bfloat16Encoder
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.parameters import check_parameters
from qrag_pipeline.retrieval.sharded_encoding import EncoderSpec

TEXTS = [
    "Mary went back to the kitchen.",
    "The old miller counted his sacks of flour before the sun went down behind the hill.",
    "One of the special magic numbers for brave-otter is: 4412907.",
    "Hi.",
    "John picked up the football there.",
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    """The real default encoder, cut to its first two layers (real weights, quick)."""
    return TextEncoder.from_pretrained(num_layers=2, max_length=64)


def test_bfloat16_embeddings_agree_with_float32_and_leave_the_encoder_alone(encoder: TextEncoder) -> None:
    before = encoder.encode(TEXTS)
    bf16 = inference_encoder(encoder, "torch-bf16")
    assert isinstance(bf16, Bfloat16Encoder) and bf16.encoder_config()["backend"] == "torch-bf16"
    vectors = bf16.encode(TEXTS)
    assert vectors.dtype == torch.float32 and vectors.shape == before.shape
    cosine = torch.nn.functional.cosine_similarity(vectors, before)
    assert cosine.min() >= 0.999, cosine  # in input order: a shuffled row would be far off
    assert next(encoder.parameters()).dtype == torch.float32
    torch.testing.assert_close(encoder.encode(TEXTS), before)


def test_auto_is_bfloat16_only_on_cpus_with_amx(monkeypatch) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: True)
    assert resolve_backend("auto", torch.device("cpu")) == "torch-bf16"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    assert EncoderSpec.of({"num_layers": 2}, "auto", device="cpu").backend == "torch-bf16"
    monkeypatch.setattr(backends, "has_amx", lambda: False)
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("onnx-int8", torch.device("cpu")) == "onnx-int8"


def test_torch_is_the_encoder_itself_and_unknown_backends_are_clear_errors(
    encoder: TextEncoder, monkeypatch
) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: False)
    assert inference_encoder(encoder, "torch") is encoder
    assert inference_encoder(encoder, "auto") is encoder
    with pytest.raises(
        QragInputError, match=r"unknown encoding backend 'tensorrt'\. Fix: use one of auto, torch"
    ):
        inference_encoder(encoder, "tensorrt")


def test_bfloat16_without_amx_warns_that_it_may_be_slower(encoder: TextEncoder, monkeypatch, caplog) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: False)
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        inference_encoder(encoder, "torch-bf16")
    assert "without AMX tiles" in caplog.text and "embed.backend: auto" in caplog.text


def test_the_backend_parameter_accepts_auto_and_names_the_choices_when_wrong() -> None:
    check_parameters({"embed": {"backend": "auto"}})
    with pytest.raises(
        QragInputError, match=r"embed\.backend='onnx-fp16' must be auto \| torch \| torch-bf16"
    ):
        check_parameters({"embed": {"backend": "onnx-fp16"}})
