"""train_q nodes: thin calls into `qrag_pipeline.training`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.episodes import episodes_from_frame
from qrag_pipeline.pools import documents_from_frame, samples_from_frame
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.rl.config import distributed_config
from qrag_pipeline.training import run_fingerprint, used_pool_embeddings
from qrag_pipeline.training_data import TrainingPools
from qrag_pipeline.training_processes import train_on_processes

NOT_FINGERPRINTED = frozenset({"run_root", "resume", "progress", "checkpoint_every", "distributed"})
"""The train_q keys that do not change what a run computes (where it lives, whether it
resumes, its progress bar, how often it saves); every other key, present or added
later, is part of the run's fingerprint, so a changed one starts a new run instead of
resuming a stale one. Of `distributed`, the process count counts (`_processes`)."""


def train_q_embedder_node(
    train_stories: pd.DataFrame,
    train_distractors: pd.DataFrame,
    hotpotqa_train_episodes: pd.DataFrame,
    training_pool_embeddings: EpisodeEmbeddings,
    train_q: dict[str, Any],
) -> tuple[Checkpoint, pd.DataFrame]:
    """Train the Q-embedder on fresh episodes of `train_q.tasks`; return its checkpoint
    and curve.

    A frozen action encoder looks each new document's chunks up in the pools'
    embeddings (a trained one encodes them itself). The run folder is named by a
    fingerprint of the parameters and the training pools, so rerunning the same
    command after a crash resumes from the last checkpoint. With
    `train_q.distributed` asking for several processes, the node starts them and
    returns rank 0's model (`training_processes`).
    """
    pools = TrainingPools(
        samples_from_frame(train_stories),
        documents_from_frame(train_distractors),
        episodes_from_frame(hotpotqa_train_episodes),
    )
    frames = (train_stories, train_distractors, hotpotqa_train_episodes)
    fingerprint = train_q_fingerprint(train_q, frames, training_pool_embeddings)
    run_dir = Path(train_q["run_root"]) / fingerprint if train_q["resume"] else None
    return train_on_processes(train_q, pools, training_pool_embeddings, run_dir)


def train_q_fingerprint(
    train_q: dict[str, Any], pool_frames: Sequence[pd.DataFrame], pool_embeddings: EpisodeEmbeddings
) -> str:
    """The name of a run's folder: a hash of train_q without `NOT_FINGERPRINTED`, the
    training pools' contents, the pool embeddings the run looks chunks up in and the
    process count."""
    return run_fingerprint(
        {key: value for key, value in train_q.items() if key not in NOT_FINGERPRINTED},
        *(_frame_hash(frame) for frame in pool_frames),
        _embeddings_hash(used_pool_embeddings(train_q["model"], pool_embeddings)),
        *_processes(train_q),
    )


def _processes(train_q: dict[str, Any]) -> list[int]:
    """The run's process count where it has several (another count is another run: each
    rank draws its own episodes); nothing for one, so a single-process run keeps its
    run folder."""
    processes = distributed_config(train_q.get("distributed")).processes
    return [processes] if processes > 1 else []


def _embeddings_hash(embeddings: EpisodeEmbeddings | None) -> str | None:
    """A content hash of the pool embeddings a run looks chunks up in (None: none)."""
    if embeddings is None:
        return None
    return hashlib.sha256(embeddings.vectors.tobytes()).hexdigest()[:16]


def _frame_hash(frame: pd.DataFrame) -> int:
    """A content hash of a training pool (list cells hashed through their items' text:
    tuples, as numpy's array printing costs seconds on a pool of stories)."""
    cells = frame.map(lambda value: tuple(value.tolist()) if isinstance(value, np.ndarray) else value)
    return int(pd.util.hash_pandas_object(cells.astype(str)).sum())
