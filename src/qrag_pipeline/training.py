"""A training run of the Q-embedder: the learner driven to the end, safely.

A run lives in a folder named by a fingerprint of everything that fixes it (network
and learner parameters, the training data): every `checkpoint_every` updates the full
training state is saved there (weights, target network, optimiser, RNG states, update
counter, metric history), so the same command after a crash or a stop continues from
the last checkpoint instead of starting over, and ends where an uninterrupted run
would. Only the latest `keep_checkpoints` are kept: they are working state; the
finished model is the run's output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from qrag_pipeline.builders.babilong import build_babilong_episodes
from qrag_pipeline.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.rl.environment import EpisodeSampler, babilong_sampler
from qrag_pipeline.rl.learner import QLearner, QLearningConfig, train
from qrag_pipeline.sources.babi_files import BabiSample

LOGGER = logging.getLogger(__name__)
CHECKPOINT_PREFIX = "update-"
CURVE_COLUMNS = (
    "update",
    "train_return",
    "train_fact_em",
    "eval_fact_em",
    "loss",
    "updates_per_s",
    "learning_rate",
    "alpha",
)


@dataclass
class TrainingResult:
    """The trained network, its inference checkpoint and the training curve."""

    network: QNetwork
    checkpoint: Checkpoint
    curves: pd.DataFrame


def learning_config(values: Mapping[str, Any]) -> QLearningConfig:
    """`QLearningConfig` from parameters, naming any key it does not know."""
    known = set(QLearningConfig.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise QragInputError(
            f"unknown learner parameters {unknown}. Fix: use only {sorted(known)} in "
            "train_q.learning."
        )
    return QLearningConfig(**values)


def resolve_device(name: str) -> torch.device:
    """"auto" is CUDA when there is a GPU, else the CPU; any torch device name works."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise QragInputError(f"unknown device {name!r}. Fix: use auto, cpu or cuda.") from error


def babilong_training_data(
    samples: Sequence[BabiSample],
    documents: Mapping[str, Sequence[str]],
    tasks: Sequence[str],
    train_sentences: int,
    validation_questions: int,
    seed: int,
) -> tuple[EpisodeSampler, list[Episode]]:
    """The training episode sampler and held-out validation episodes, from one pool.

    The last `validation_questions` questions of each task are held out, so the
    validation curve is measured on questions the learner never trains on (with
    training distractors: the test books stay untouched for evaluate).
    """
    by_task = {task: [s for s in samples if s.task == task] for task in tasks}
    empty = [task for task, found in by_task.items() if len(found) <= validation_questions]
    if empty:
        raise QragInputError(
            f"the training pool has too few questions for tasks {empty} (needs more than "
            f"validation_questions={validation_questions}). Fix: add these tasks to "
            "data_prep.babilong.tasks, or lower train_q.validation_questions."
        )
    train = [s for found in by_task.values() for s in found[:-validation_questions]]
    held = {task: found[-validation_questions:] for task, found in by_task.items()}
    validation = build_babilong_episodes(
        held, documents, ["train"], validation_questions, seed, {"train": train_sentences}
    )
    return babilong_sampler(train, documents, train_sentences), validation


def run_fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able `parts` (parameters, data digests)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The run's most advanced complete checkpoint, if any."""
    found = sorted(run_dir.glob(f"{CHECKPOINT_PREFIX}*")) if run_dir.is_dir() else []
    return found[-1] if found else None


def train_q_embedder(
    make_network: Callable[[], QNetwork],
    learning: QLearningConfig,
    sampler: EpisodeSampler,
    held_out: Sequence[Episode],
    run_dir: Path | None,
    checkpoint_every: int,
    device: torch.device,
    keep_checkpoints: int = 2,
    progress: bool = True,
) -> TrainingResult:
    """Train to `learning.total_updates`, resuming from `run_dir` when it holds a run.

    `make_network` builds the starting network (e.g. `QNetwork.from_pretrained`); it is
    not called when resuming. With `run_dir=None` nothing is written or resumed.
    """
    resume_from = latest_checkpoint(run_dir) if run_dir is not None else None
    if resume_from is None:
        learner = QLearner(make_network(), sampler, learning, device)
        history: list[dict[str, float]] = []
    else:
        saved = load_checkpoint(resume_from)
        learner = QLearner(saved.build_network(), sampler, learning, device)
        learner.load_state_dict(saved.training_tensors, saved.training_state["learner"])
        history = list(saved.training_state["history"])
        LOGGER.info("resuming from %s (update %d of %d)", resume_from, learner.updates, learning.total_updates)

    bar = tqdm(total=learning.total_updates, initial=learner.updates, desc="train_q", unit="update", disable=not progress)

    def after_update(learner: QLearner, metrics: dict[str, float]) -> None:
        history.append(metrics)
        bar.update(1)
        bar.set_postfix(_progress_fields(history, learning.eval_every), refresh=False)
        done = learner.updates == learning.total_updates
        if run_dir is not None and (learner.updates % checkpoint_every == 0 or done):
            _save_training_state(learner, history, run_dir, keep_checkpoints)

    try:
        train(learner, held_out, after_update)
    finally:
        bar.close()
    return TrainingResult(
        network=learner.network,
        checkpoint=Checkpoint.from_network(learner.network, training_state={"learning": asdict(learning)}),
        curves=training_curves(history, learning.eval_every),
    )


def training_curves(history: Sequence[Mapping[str, float]], interval: int) -> pd.DataFrame:
    """One row per `interval` updates: means over the interval, held-out EM at its end.

    `train_return` and `train_fact_em` average the episodes that finished within the
    interval (behaviour policy, with exploration); `eval_fact_em` is greedy retrieval on
    held-out episodes, measured at the interval's last update.
    """
    rows = []
    for start in range(0, len(history), interval):
        block = history[start : start + interval]
        weights = [m["episodes"] for m in block]
        rows.append(
            {
                "update": int(block[-1]["update"]),
                "train_return": _weighted_mean([m["mean_return"] for m in block], weights),
                "train_fact_em": _weighted_mean([m["fact_em"] for m in block], weights),
                "eval_fact_em": block[-1].get("eval_fact_em", math.nan),
                "loss": sum(m["loss"] for m in block) / len(block),
                "updates_per_s": len(block) / sum(1.0 / m["updates_per_s"] for m in block),
                "learning_rate": block[-1]["learning_rate"],
                "alpha": block[-1]["alpha"],
            }
        )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _save_training_state(learner: QLearner, history: list[dict[str, float]], run_dir: Path, keep: int) -> None:
    tensors, values = learner.state_dict()
    checkpoint = Checkpoint.from_network(
        learner.network, training_tensors=tensors, training_state={"learner": values, "history": history}
    )
    save_checkpoint(checkpoint, run_dir / f"{CHECKPOINT_PREFIX}{learner.updates:08d}")
    for old in sorted(run_dir.glob(f"{CHECKPOINT_PREFIX}*"))[:-keep]:
        shutil.rmtree(old)


def _progress_fields(history: Sequence[Mapping[str, float]], interval: int) -> dict[str, str]:
    recent = history[-interval:]
    fields = {
        "loss": f"{sum(m['loss'] for m in recent) / len(recent):.4f}",
        "return": f"{_weighted_mean([m['mean_return'] for m in recent], [m['episodes'] for m in recent]):.3f}",
    }
    evaluated = [m["eval_fact_em"] for m in history if "eval_fact_em" in m]
    if evaluated:
        fields["eval_em"] = f"{evaluated[-1]:.2f}"
    return fields


def _weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if w > 0 and not math.isnan(v)]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else math.nan
