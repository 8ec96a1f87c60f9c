"""ONNX Runtime encoding: the same embeddings as torch (int8 within its bound), the
export made once and cached, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models import onnx_encoder
from qrag_pipeline.models.backends import inference_encoder
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.onnx_encoder import OnnxEncoder
from tests.models.conftest import BACKEND_TEXTS


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx_cache")


def test_the_onnx_export_encodes_as_torch_does(two_layer_encoder: TextEncoder, cache: Path) -> None:
    onnx = inference_encoder(two_layer_encoder, "onnx", cache)
    assert isinstance(onnx, OnnxEncoder) and onnx.encoder_config()["backend"] == "onnx"
    torch.testing.assert_close(
        onnx.encode(BACKEND_TEXTS), two_layer_encoder.encode(BACKEND_TEXTS), atol=2e-5, rtol=1e-4
    )


def test_int8_embeddings_stay_within_the_stated_bound(two_layer_encoder: TextEncoder, cache: Path) -> None:
    int8 = inference_encoder(two_layer_encoder, "onnx-int8", cache).encode(BACKEND_TEXTS)
    cosine = torch.nn.functional.cosine_similarity(int8, two_layer_encoder.encode(BACKEND_TEXTS))
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.98, cosine


def test_the_export_is_made_once_and_reused(two_layer_encoder: TextEncoder, cache: Path, monkeypatch) -> None:
    inference_encoder(two_layer_encoder, "onnx", cache)
    (model_file,) = cache.glob("*/model.onnx")
    written = model_file.stat().st_mtime_ns
    monkeypatch.setattr(onnx_encoder, "_export", lambda *a: pytest.fail("exported again"))
    inference_encoder(two_layer_encoder, "onnx", cache)
    assert model_file.stat().st_mtime_ns == written
    assert not [p for p in cache.rglob(".*")]  # no staging leftovers


def test_missing_onnx_packages_are_a_clear_error(
    two_layer_encoder: TextEncoder, cache: Path, monkeypatch
) -> None:
    monkeypatch.setattr(onnx_encoder, "_importable", lambda name: name != "onnxruntime")
    with pytest.raises(QragInputError, match=r"need the packages \['onnxruntime'\]\. Fix: pip install"):
        inference_encoder(two_layer_encoder, "onnx-int8", cache / "elsewhere")
