"""train_q nodes: thin calls into `qrag_pipeline.training`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.pools import documents_from_frame, samples_from_frame
from qrag_pipeline.training import (
    babilong_training_data,
    learning_config,
    resolve_device,
    run_fingerprint,
    train_q_embedder,
)


def train_q_embedder_node(
    train_stories: pd.DataFrame, train_distractors: pd.DataFrame, train_q: dict[str, Any]
) -> tuple[Checkpoint, pd.DataFrame]:
    """Train the Q-embedder on fresh BabiLong episodes; return its checkpoint and curve.

    The run folder is named by a fingerprint of the parameters and the training pools,
    so rerunning the same command after a crash resumes from the last checkpoint.
    """
    learning = learning_config(train_q["learning"])
    sampler, validation = babilong_training_data(
        samples_from_frame(train_stories),
        documents_from_frame(train_distractors),
        train_q["tasks"],
        train_q["train_sentences"],
        train_q["validation_questions"],
        learning.seed,
    )
    fingerprint = run_fingerprint(
        train_q["model"], train_q["learning"], train_q["tasks"], train_q["train_sentences"],
        train_q["validation_questions"],
        pd.util.hash_pandas_object(train_stories.astype(str)).sum(),
        pd.util.hash_pandas_object(train_distractors).sum(),
    )
    result = train_q_embedder(
        lambda: QNetwork.from_pretrained(**train_q["model"]),
        learning,
        sampler,
        validation,
        run_dir=Path(train_q["run_root"]) / fingerprint if train_q["resume"] else None,
        checkpoint_every=train_q["checkpoint_every"],
        device=resolve_device(train_q["device"]),
        progress=train_q["progress"],
    )
    return result.checkpoint, result.curves
