"""Chunk encoding on the CPU through ONNX Runtime, in float32 or int8.

Encoding every chunk is the one inference cost that grows with the document: a 10M-token
corpus is 400,000 sentences, half an hour per pass for torch's float32 MiniLM on two
cores. The same transformer exported to ONNX runs faster under ONNX Runtime, and with
its weights quantised to int8 (dynamic quantisation: weights stored in int8,
activations quantised on the fly) faster still, at a small cost in accuracy that
`benchmarks/encoding_backends.py` measures. Only inference uses it (the embed stage,
`QRetriever`, `qrag-retrieve`); training keeps torch, whose gradients it needs.

The export is made once per encoder (its weights' digest names the folder) and kept in
a cache folder, so every later run starts at once. Tokenisation, batching, mean
pooling and scaling are `TextEncoder`'s own: only the transformer's forward pass runs
in ONNX Runtime, so an `OnnxEncoder` is a drop-in for `TextEncoder.encode`.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import TextEncoder, encode_in_batches
from qrag_pipeline.staging import staged

LOGGER = logging.getLogger(__name__)
DEFAULT_CACHE = Path("data/06_models/onnx_encoders")
"""Where exports are kept unless a cache folder is given (inside the project, git-ignored)."""
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEncoder:
    """`TextEncoder.encode` with the transformer run by ONNX Runtime on the CPU."""

    def __init__(self, encoder: TextEncoder, model_file: Path, backend: str) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self.encoder = encoder
        self.backend = backend
        self.inputs = [i.name for i in self.session.get_inputs()]

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def encoder_config(self) -> dict[str, Any]:
        """The torch encoder's record, plus the backend that produced the vectors."""
        return {**self.encoder.encoder_config(), "backend": self.backend}

    def __call__(self, texts: Sequence[str]) -> Tensor:
        """Embeddings [B, D] of one batch (float32), pooled and scaled as in torch."""
        batch = self.encoder.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.encoder.max_length,
            return_tensors="np",
        )
        feeds = {name: batch[name].astype(np.int64) for name in self.inputs}
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        mask = batch["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)
        return torch.from_numpy(pooled * self.encoder.scale)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: bool = False,
        max_batch_tokens: int = 512,
    ) -> Tensor:
        """Embeddings [N, D] in input order, batched by length as `TextEncoder.encode`."""
        return encode_in_batches(self, texts, batch_size, progress, max_batch_tokens)


def exported_model(encoder: TextEncoder, int8: bool, cache: Path) -> Path:
    """The ONNX file of `encoder`'s transformer (int8-quantised if asked), exported on
    the first call and read from `cache` afterwards; written whole or not at all."""
    folder = cache / _fingerprint(encoder)
    model_file = folder / ("model_int8.onnx" if int8 else "model.onnx")
    if model_file.is_file():
        return model_file
    _require_onnx()
    plain = folder / "model.onnx"
    if not plain.is_file():
        LOGGER.info("exporting the encoder to ONNX (once) into %s", folder)
        with staged(plain) as staging:
            _export(encoder, staging)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        LOGGER.info("quantising the ONNX encoder to int8 (once) into %s", folder)
        with staged(model_file) as staging, _quiet():
            quantize_dynamic(str(plain), str(staging), weight_type=QuantType.QInt8, per_channel=True)
    return model_file


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and quantiser's advice (tracer warnings, a root-logger
    hint to pre-process), which says nothing a user of this project can act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _export(encoder: TextEncoder, path: Path) -> None:
    """The transformer's forward (token ids, mask, types -> last hidden state) as ONNX,
    with batch and sequence axes left free."""
    sample = encoder.tokenizer(["a sentence to trace", "another"], padding=True, return_tensors="pt")
    names = [name for name in _INPUTS if name in sample]
    model = _LastHiddenState(encoder.model).eval()
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            model,
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
            opset_version=OPSET,
            dynamo=False,
        )


class _LastHiddenState(torch.nn.Module):
    """The transformer with positional inputs and one output, as the exporter wants."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: Tensor) -> Tensor:
        named = dict(zip(_INPUTS, inputs, strict=False))
        return self.model(**named).last_hidden_state


def _fingerprint(encoder: TextEncoder) -> str:
    """A digest of the transformer's weights and architecture: one export per model."""
    digest = hashlib.sha256(repr(encoder.model.config.to_dict()).encode())
    for name, tensor in sorted(encoder.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxruntime") if not _importable(name)]
    if missing:
        raise QragInputError(
            f"the ONNX encoding backends need the packages {missing}. Fix: pip install "
            '-e ".[onnx]" (make setup installs them), or set embed.backend: torch.'
        )


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
