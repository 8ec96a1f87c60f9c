"""Which encoder embeds chunks at inference: the `embed.backend` setting.

Every inference-time encoding of chunks (the embed stage, `QRetriever`, `qrag-retrieve`)
goes through `inference_encoder`, so one setting picks the backend everywhere:

- "torch": the float32 encoder itself;
- "torch-bf16": a copy with bfloat16 weights (`Bfloat16Encoder`), CPU or GPU;
- "onnx" / "onnx-int8": its ONNX export under ONNX Runtime, float32 or int8 (`OnnxEncoder`,
  CPU only: on a GPU they fall back to torch);
- "auto": the fastest within the accuracy bound that `benchmarks/encoding_backends.py`
  measures — torch-bf16 on CPUs with AMX tiles, where it is 3x float32 at cosine 0.9999;
  float32 torch elsewhere, and on a GPU (whose float32 encoding is not the bottleneck).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.backend_names import SETTINGS
from qrag_pipeline.models.bfloat16_encoder import Bfloat16Encoder
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.onnx_encoder import DEFAULT_CACHE, OnnxEncoder, exported_model

LOGGER = logging.getLogger(__name__)
InferenceEncoder = TextEncoder | Bfloat16Encoder | OnnxEncoder


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend `backend` names on `device`: itself, or for "auto" the one this
    hardware runs fastest (see the module's docstring)."""
    if backend not in SETTINGS:
        raise QragInputError(f"unknown encoding backend {backend!r}. Fix: use one of {', '.join(SETTINGS)}.")
    if backend != "auto":
        return backend
    return "torch-bf16" if device.type == "cpu" and has_amx() else "torch"


def has_amx() -> bool:
    """Whether this CPU has AMX tiles (bfloat16 matrix products in hardware)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


def inference_encoder(
    encoder: TextEncoder, backend: str, cache: str | Path | None = None
) -> InferenceEncoder:
    """`encoder` on `backend` (resolved on its device): itself for "torch", a bfloat16
    copy for "torch-bf16", else its ONNX export, made once into `cache` (on a GPU the
    ONNX backends are torch)."""
    resolved = resolve_backend(backend, encoder.device)
    if resolved == "torch-bf16":
        if encoder.device.type == "cpu" and not has_amx():
            LOGGER.warning(
                "embed backend torch-bf16 on a CPU without AMX tiles: bfloat16 may run slower "
                "than float32 here. Fix: set embed.backend: auto (or torch)."
            )
        return Bfloat16Encoder(encoder)
    if resolved == "torch" or encoder.device.type != "cpu":
        return encoder
    model_file = exported_model(encoder, resolved == "onnx-int8", Path(cache or DEFAULT_CACHE))
    return OnnxEncoder(encoder, model_file, resolved)
