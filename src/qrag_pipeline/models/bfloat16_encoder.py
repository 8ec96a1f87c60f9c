"""Chunk encoding with the transformer's weights in bfloat16, on hardware that computes it.

On CPUs with AMX tiles (Intel Xeon since Sapphire Rapids) oneDNN multiplies bfloat16
matrices several times faster than float32, and on GPUs bfloat16 is native: a copy of
the encoder with its weights cast once encodes book sentences 2.6x faster than float32
torch on two such cores, with embeddings at cosine 0.99995 to float32's, where int8
under ONNX Runtime reaches 1.75x at cosine 0.992 (`benchmarks/encoding_backends.py`,
docs/results.md). Casting the weights once, not running under autocast, is what pays:
autocast casts every weight matrix again at every batch. Only inference uses it;
training keeps its own precision setting. Pooling and scaling stay in float32
(`TextEncoder.forward`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from qrag_pipeline.models.encoder import TextEncoder, encode_in_batches

BATCH_SIZE = 128
MAX_BATCH_TOKENS = 4096
"""bfloat16's batches: its matrix kernels pay a cost per call, so batches larger than
float32's (64 texts / 512 tokens) run faster: on AMX, in a trial on 3,000 book
sentences, about twice as fast as at 64 / 512."""


class Bfloat16Encoder:
    """`TextEncoder.encode` by a copy of the encoder whose weights are bfloat16."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = copy.deepcopy(encoder).eval().to(torch.bfloat16)
        self.encoder.requires_grad_(False)
        self.source = encoder

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def encoder_config(self) -> dict[str, Any]:
        """The float32 encoder's record, plus the backend that produced the vectors."""
        return {**self.source.encoder_config(), "backend": "torch-bf16"}

    def __call__(self, texts: Sequence[str]) -> Tensor:
        """Embeddings [B, D] of one batch, pooled in float32."""
        return self.encoder(texts)

    @torch.no_grad()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = BATCH_SIZE,
        progress: bool = False,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
    ) -> Tensor:
        """Embeddings [N, D] (float32) in input order, batched by length as
        `TextEncoder.encode`, in bfloat16's larger batches."""
        return encode_in_batches(self, texts, batch_size, progress, max_batch_tokens)
