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
from tests.models.conftest import BACKEND_TEXTS


def test_bfloat16_embeddings_agree_with_float32_and_leave_the_encoder_alone(
    two_layer_encoder: TextEncoder,
) -> None:
    before = two_layer_encoder.encode(BACKEND_TEXTS)
    bf16 = inference_encoder(two_layer_encoder, "torch-bf16")
    assert isinstance(bf16, Bfloat16Encoder) and bf16.encoder_config()["backend"] == "torch-bf16"
    vectors = bf16.encode(BACKEND_TEXTS)
    assert vectors.dtype == torch.float32 and vectors.shape == before.shape
    cosine = torch.nn.functional.cosine_similarity(vectors, before)
    assert cosine.min() >= 0.999, cosine  # in input order: a shuffled row would be far off
    assert next(two_layer_encoder.parameters()).dtype == torch.float32
    torch.testing.assert_close(two_layer_encoder.encode(BACKEND_TEXTS), before)


def test_auto_is_bfloat16_only_on_cpus_with_amx(monkeypatch) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: True)
    assert resolve_backend("auto", torch.device("cpu")) == "torch-bf16"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    assert EncoderSpec.of({"num_layers": 2}, "auto", device="cpu").backend == "torch-bf16"
    monkeypatch.setattr(backends, "has_amx", lambda: False)
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("onnx-int8", torch.device("cpu")) == "onnx-int8"


def test_torch_is_the_encoder_itself_and_unknown_backends_are_clear_errors(
    two_layer_encoder: TextEncoder, monkeypatch
) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: False)
    assert inference_encoder(two_layer_encoder, "torch") is two_layer_encoder
    assert inference_encoder(two_layer_encoder, "auto") is two_layer_encoder
    with pytest.raises(
        QragInputError, match=r"unknown encoding backend 'tensorrt'\. Fix: use one of auto, torch"
    ):
        inference_encoder(two_layer_encoder, "tensorrt")


def test_bfloat16_without_amx_warns_that_it_may_be_slower(
    two_layer_encoder: TextEncoder, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: False)
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        inference_encoder(two_layer_encoder, "torch-bf16")
    assert "without AMX tiles" in caplog.text and "embed.backend: auto" in caplog.text


def test_the_backend_parameter_accepts_auto_and_names_the_choices_when_wrong() -> None:
    check_parameters({"embed": {"backend": "auto"}})
    with pytest.raises(
        QragInputError, match=r"embed\.backend='onnx-fp16' must be auto \| torch \| torch-bf16"
    ):
        check_parameters({"embed": {"backend": "onnx-fp16"}})
