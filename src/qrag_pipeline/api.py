"""Retrieval over your own documents with a trained Q-embedder, in three lines:

    retriever = QRetriever.from_checkpoint(latest_checkpoint_dir())
    hits = retriever.retrieve(document_text, "Where is the football?", max_steps=4)
    for hit in hits: print(hit.index, hit.q_value, hit.text)

A document is a text (split into sentences, the chunks the model was trained on) or a
list of chunks. Hits come in document order, the order a reader should see them in,
each with its Q value and the step that found it. Retrieval stops where the Q value
falls under the threshold the checkpoint learned on its validation episodes, so a
question that needs one fact gets one and a question that needs three gets three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from qrag_pipeline.checkpoints import CONFIG_FILE, load_checkpoint
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.backends import inference_encoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.multistep import retrieve
from qrag_pipeline.retrieval.trace import learned_stop
from qrag_pipeline.rl.inference import ALL_BENCHMARKS
from qrag_pipeline.sources.sentences import split_sentences

CHECKPOINT_ROOT = "data/06_models/q_embedder_checkpoint"
"""Where train_q's versioned checkpoints live: <root>/<timestamp>/<root's name>/."""

PROGRESS_ABOVE_CHUNKS = 10_000
"""Show an encoding progress bar only for documents with more chunks than this."""


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk: its index in the document, its text, the Q value it had
    when it was picked and the step (1 = first) that picked it."""

    index: int
    text: str
    q_value: float
    step: int


LEARNED = "learned"
"""`QRetriever.retrieve`'s default stop: the threshold the checkpoint learned."""


class QRetriever:
    """A trained Q-network wrapped for documents that are not episodes.

    `stop_threshold` is the learned stop's threshold it applies by default: from a
    checkpoint, the one chosen on all its validation episodes; None keeps every step.
    Its state texts hold each retrieved chunk cut to the network's `chunk_budget`
    tokens, the budget it was trained with.
    """

    def __init__(
        self,
        network: QNetwork,
        stop_threshold: float | None = None,
        backend: str = "auto",
    ) -> None:
        self.network = network
        self.stop_threshold = stop_threshold
        self.chunk_encoder = inference_encoder(network.action_encoder, backend)

    @classmethod
    def from_checkpoint(
        cls, directory: str | Path, device: torch.device | str = "cpu", backend: str = "auto"
    ) -> QRetriever:
        """The retriever of one checkpoint folder (a version, not their root).

        `backend` encodes the document's chunks (`models.backends`): "auto" (bfloat16
        weights on CPUs with AMX tiles, else torch), "torch", "torch-bf16", or on the
        CPU "onnx" / "onnx-int8" (ONNX Runtime, exported once).
        """
        checkpoint = load_checkpoint(directory)
        return cls(
            checkpoint.build_network(device),
            stop_threshold=checkpoint.stop_thresholds.get(ALL_BENCHMARKS),
            backend=backend,
        )

    def retrieve(
        self,
        document: str | Sequence[str],
        question: str,
        max_steps: int = 4,
        stop_threshold: float | str | None = LEARNED,
    ) -> list[Hit]:
        """Up to `max_steps` chunks of `document` for `question`, in document order.

        Only the steps before the first pick whose Q value falls under the stop
        threshold are kept (`learned_stop`, the rule evaluation scores): by default
        the retriever's learned one, or `stop_threshold` given here; None keeps all
        `max_steps`.
        """
        if stop_threshold == LEARNED:
            stop_threshold = self.stop_threshold
        elif isinstance(stop_threshold, str):
            raise QragInputError(
                f"unknown stop threshold {stop_threshold!r}. Fix: give a number, None "
                f"(no stop) or {LEARNED!r} (the checkpoint's)."
            )
        chunks = _chunks(document)
        if not question.strip():
            raise QragInputError("the question is empty. Fix: ask a question.")
        if max_steps < 1:
            raise QragInputError(f"max_steps must be at least 1, got {max_steps}.")
        embeddings = self.chunk_encoder.encode(chunks, progress=len(chunks) > PROGRESS_ABOVE_CHUNKS)
        trace = retrieve(self.network, question, chunks, embeddings, max_steps)
        kept = trace.retrieved if stop_threshold is None else learned_stop(trace, stop_threshold)
        hits = [
            Hit(index, chunks[index], q_value, step)
            for step, (index, q_value) in enumerate(
                zip(kept, trace.q_values[: len(kept)], strict=True), start=1
            )
        ]
        return sorted(hits, key=lambda hit: hit.index)


def latest_checkpoint_dir(root: str | Path = CHECKPOINT_ROOT) -> Path:
    """The newest complete checkpoint under a versioned root.

    Kedro names versions by UTC timestamps that sort as text, so the newest is the
    greatest name among those holding a complete checkpoint (a crash mid-save leaves
    none, as checkpoints are renamed into place when written).
    """
    root = Path(root)
    versions = sorted(
        (version / root.name for version in root.glob("*") if (version / root.name / CONFIG_FILE).is_file()),
        reverse=True,
    )
    if not versions:
        raise QragInputError(
            f"no checkpoint under {str(root)!r}. Fix: train one (kedro run "
            "--pipeline train_q) or name a checkpoint folder."
        )
    return versions[0]


def _chunks(document: str | Sequence[str]) -> list[str]:
    """A text split into sentences, or a list of chunks as given; never empty."""
    chunks = split_sentences(document) if isinstance(document, str) else list(document)
    if not any(chunk.strip() for chunk in chunks):
        raise QragInputError(
            "the document is empty: it has no text to retrieve from. Fix: give a "
            "non-empty text or list of chunks."
        )
    return chunks
