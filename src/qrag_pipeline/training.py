"""A training run of the Q-embedder: the learner driven to the end, safely.

A run lives in a folder named by a fingerprint of everything that fixes it (network
and learner parameters, the training data): every `checkpoint_every` updates the full
training state is saved there (weights, target network, optimiser, RNG states, update
counter, metric history), so the same command after a crash or a stop continues from
the last checkpoint instead of starting over, and ends where an uninterrupted run
would. Only the latest `keep_checkpoints` are kept: they are working state; the
finished model is the run's output: the last update's weights, or with `select_best`
those of the evaluation with the best validation fact EM (early stopping, for data
few enough to over-fit: the run's checkpoints carry those weights, so a resumed run
selects as an uninterrupted one would).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from qrag_pipeline.checkpoints import Checkpoint, load_checkpoint, save_checkpoint, tensors_with_prefix
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.errors import QragInputError, TrainingDivergedError
from qrag_pipeline.locks import exclusive
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.reporting.curves_table import CURVE_COLUMNS as REPORTED_CURVE_COLUMNS
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.rl.config import QLearningConfig, learning_config
from qrag_pipeline.rl.inference import stop_thresholds
from qrag_pipeline.rl.learner import RANK_OWN_TENSORS, QLearner, train
from qrag_pipeline.rl.ranks import (
    SINGLE_PROCESS,
    Ranks,
    broadcast_from_first,
    gather_to_first,
    metrics_over_ranks,
    rank_tensor_key,
)
from qrag_pipeline.training_data import TrainingPools, training_data

LOGGER = logging.getLogger(__name__)
CHECKPOINT_PREFIX = "update-"
BEST_PREFIX = "best."
"""Training tensors of the best evaluation's weights in a `select_best` run's checkpoints."""
CURVE_COLUMNS = (*REPORTED_CURVE_COLUMNS, "loss_td", "loss_labels", "updates_per_s", "learning_rate", "alpha")
"""The training curve's columns: those the report reads, the loss's two terms (TD and
the label term, 0 when off), then the run's pace and schedule."""


@dataclass
class TrainingResult:
    """The trained network, its inference checkpoint and the training curve."""

    network: QNetwork
    checkpoint: Checkpoint
    curves: pd.DataFrame


@dataclass
class BestEvaluation:
    """The weights of the run's best validation evaluation so far (`select_best`):
    the highest `eval_fact_em`, the earliest of equals."""

    update: int | None = None
    eval_fact_em: float = -math.inf
    weights: dict[str, Tensor] = field(default_factory=dict)

    def offer(self, network: QNetwork, metrics: Mapping[str, float]) -> None:
        """Keep a CPU copy of `network`'s weights if this update's evaluation is the best."""
        score = metrics.get("eval_fact_em")
        if score is not None and score > self.eval_fact_em:
            self.update, self.eval_fact_em = int(metrics["update"]), float(score)
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()}

    def saved(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """(training tensors, JSON-able values) for a checkpoint of the run."""
        values = {"update": self.update, "eval_fact_em": self.eval_fact_em if self.weights else None}
        return {f"{BEST_PREFIX}{k}": v for k, v in self.weights.items()}, values

    @classmethod
    def from_saved(cls, tensors: Mapping[str, Tensor], values: Mapping[str, Any] | None) -> BestEvaluation:
        """The record `saved` wrote (an empty one for a run saved without it)."""
        if not values or values.get("eval_fact_em") is None:
            return cls()
        weights = tensors_with_prefix(tensors, BEST_PREFIX)
        return cls(int(values["update"]), float(values["eval_fact_em"]), weights)


def run_fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able `parts` (parameters, data digests)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The run's most advanced complete checkpoint, if any."""
    found = sorted(run_dir.glob(f"{CHECKPOINT_PREFIX}*")) if run_dir.is_dir() else []
    return found[-1] if found else None


def run_training(
    train_q: Mapping[str, Any],
    pools: TrainingPools,
    pool_embeddings: EpisodeEmbeddings | None,
    run_dir: Path | None,
    ranks: Ranks = SINGLE_PROCESS,
) -> TrainingResult:
    """The train_q stage's run from its parameters (`train_q` as conf holds it): the
    network of `train_q.model` trained on episodes of `train_q.tasks` drawn from
    `pools`, in `run_dir` (None: nothing written or resumed), as rank `ranks.rank` of
    data-parallel processes (`training_processes` starts them) or alone.

    The train_q node and the benchmarks that train both come here, so that a
    benchmark's model is the pipeline's for the same parameters and pools.
    `pool_embeddings` (the pools' texts embedded by the pretrained encoder) serve a
    frozen action encoder only (`used_pool_embeddings`).
    """
    learning, sampler, validation = training_inputs(train_q, pools)
    return train_q_embedder(
        lambda: QNetwork.from_pretrained(**train_q["model"]),
        learning,
        sampler,
        validation,
        run_dir=run_dir,
        checkpoint_every=train_q["checkpoint_every"],
        device=resolve_device(train_q["device"]),
        progress=train_q["progress"],
        pool_embeddings=used_pool_embeddings(train_q["model"], pool_embeddings),
        select_best=train_q.get("select_best", False),
        ranks=ranks,
    )


def training_inputs(
    train_q: Mapping[str, Any], pools: TrainingPools
) -> tuple[QLearningConfig, EpisodeSampler, list[Episode]]:
    """What a run of the `train_q` parameters learns with: the learner's settings, the
    sampler of training episodes and the validation episodes (`training_data`). The
    learner's settings come first, so that a misspelt one is named before any data
    is built."""
    learning = learning_config(train_q["learning"])
    sampler, validation = training_data(
        train_q["tasks"],
        pools.stories,
        pools.documents,
        pools.hotpotqa_episodes,
        train_q["train_sentences"],
        train_q["validation_questions"],
        learning.seed,
        train_q.get("task_weights"),
        train_q.get("hotpotqa_mix_chunks", 0),
    )
    return learning, sampler, validation


def used_pool_embeddings(
    model: Mapping[str, Any], pool_embeddings: EpisodeEmbeddings | None
) -> EpisodeEmbeddings | None:
    """The pool embeddings a network of `model` (train_q.model) looks its chunks up
    in: a frozen action encoder's are the pretrained ones; a trained action encoder
    changes at every update, so it encodes every chunk itself (None)."""
    return pool_embeddings if reads_pool_embeddings(model) else None


def reads_pool_embeddings(model: Mapping[str, Any]) -> bool:
    """Whether a network of `model` (train_q.model) reads the pretrained pool
    embeddings: only a frozen action encoder does."""
    return bool(model.get("frozen_action_encoder", False))


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
    pool_embeddings: EpisodeEmbeddings | None = None,
    select_best: bool = False,
    ranks: Ranks = SINGLE_PROCESS,
) -> TrainingResult:
    """Train to `learning.total_updates`, resuming from `run_dir` when it holds a run.

    `make_network` builds the starting network (e.g. `QNetwork.from_pretrained`); it is
    not called when resuming. With `run_dir=None` nothing is written or resumed.
    `pool_embeddings` (the training pools embedded by the frozen action encoder) spare
    a frozen-action-encoder network the encoding of every new document's chunks. A
    second run in the same run folder (the same parameters and data) while this one
    works stops at once with a clear error (`locks.exclusive`). With `select_best` the
    result holds the weights of the evaluation with the best validation fact EM (the
    last update's when nothing was evaluated).

    Among data-parallel `ranks`, every rank calls this with the same arguments; rank 0
    alone holds the lock, evaluates on `held_out`, shows progress and writes the run's
    checkpoints, which hold every rank's episodes in progress (so a resumed run
    continues each rank's stream); its result is the run's.
    """
    counts = {"checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints}
    for name, value in counts.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise QragInputError(
                f"train_q.{name}={value!r} must be a whole number of at least 1. Fix: set "
                f"train_q.{name} in the train_q parameters."
            )
    writes = run_dir is not None and ranks.is_first
    lock = exclusive(run_dir, "train_q with these parameters") if writes else nullcontext()
    with lock:
        if writes:
            _remove_unfinished_saves(run_dir)
        learner, history, best = _new_or_resumed_learner(
            make_network, learning, sampler, run_dir, device, pool_embeddings, ranks
        )
        return _run_updates(
            learner,
            history,
            best if select_best else None,
            held_out if ranks.is_first else [],
            run_dir,
            checkpoint_every,
            keep_checkpoints,
            progress and ranks.is_first,
        )


def _new_or_resumed_learner(
    make_network: Callable[[], QNetwork],
    learning: QLearningConfig,
    sampler: EpisodeSampler,
    run_dir: Path | None,
    device: torch.device,
    pool_embeddings: EpisodeEmbeddings | None,
    ranks: Ranks,
) -> tuple[QLearner, list[dict[str, float]], BestEvaluation]:
    """A learner from `make_network`, or from the run's latest checkpoint with its
    history and its best evaluation (and this rank's episodes in progress)."""
    resume_from = latest_checkpoint(run_dir) if run_dir is not None else None
    if resume_from is None:
        learner = QLearner(make_network(), sampler, learning, device, pool_embeddings, ranks)
        broadcast_from_first(learner.network, ranks)
        if learner.target is not None:
            broadcast_from_first(learner.target, ranks)
        return learner, [], BestEvaluation()
    saved = _load_resumable(resume_from)
    learner = QLearner(saved.build_network(), sampler, learning, device, pool_embeddings, ranks)
    learner.load_state_dict(*_rank_state(saved, ranks, resume_from))
    LOGGER.info("resuming from %s (update %d of %d)", resume_from, learner.updates, learning.total_updates)
    best = BestEvaluation.from_saved(saved.training_tensors, saved.training_state.get("best"))
    return learner, list(saved.training_state["history"]), best


def _run_updates(
    learner: QLearner,
    history: list[dict[str, float]],
    best: BestEvaluation | None,
    held_out: Sequence[Episode],
    run_dir: Path | None,
    checkpoint_every: int,
    keep_checkpoints: int,
    progress: bool,
) -> TrainingResult:
    """The updates still to do, checkpointed into `run_dir`; then, with `best` (a
    `select_best` run), the best evaluation's weights; then the stop thresholds."""
    learning = learner.config
    bar = tqdm(
        total=learning.total_updates,
        initial=learner.updates,
        desc="train_q",
        unit="update",
        disable=not progress,
    )

    def after_update(learner: QLearner, metrics: dict[str, float]) -> None:
        metrics = metrics_over_ranks(metrics, learner.ranks)
        history.append(metrics)
        if best is not None:
            best.offer(learner.network, metrics)
        bar.update(1)
        bar.set_postfix(_progress_fields(history, learning.eval_every), refresh=False)
        done = learner.updates == learning.total_updates
        if run_dir is not None and (learner.updates % checkpoint_every == 0 or done):
            _save_training_state(learner, history, best, run_dir, keep_checkpoints)

    try:
        train(learner, held_out, after_update)
        selected = _select_best(learner, best)
        thresholds = _validation_stop_thresholds(learner, held_out)
    except TrainingDivergedError as error:
        last = latest_checkpoint(run_dir) if run_dir is not None else None
        kept = (
            f" The last good checkpoint of this run stays in {str(last)!r} (a rerun "
            "with other parameters starts a new run)."
            if last is not None
            else " No checkpoint had been saved yet."
        )
        raise TrainingDivergedError(f"{error}{kept}", error.update) from error
    finally:
        bar.close()
    return TrainingResult(
        network=learner.network,
        checkpoint=Checkpoint.from_network(
            learner.network,
            training_state={"learning": asdict(learning), "selected_update": selected},
            stop_thresholds=thresholds,
        ),
        curves=training_curves(history, learning.eval_every),
    )


def _select_best(learner: QLearner, best: BestEvaluation | None) -> int:
    """Load the best evaluation's weights into the learner's network when `best` holds
    any; the update whose weights the network now has."""
    if best is None or not best.weights:
        return learner.updates
    learner.network.load_state_dict(best.weights)
    LOGGER.info(
        "select_best: the model is update %d's (validation fact EM %.3f), of %d updates",
        best.update,
        best.eval_fact_em,
        learner.updates,
    )
    return int(best.update)


def _validation_stop_thresholds(learner: QLearner, held_out: Sequence[Episode]) -> dict[str, float]:
    """The learned stop's thresholds, chosen on the validation episodes (none without
    any); a frozen action encoder looks their chunks up in the pools' table."""
    if not held_out:
        return {}
    table = learner.chunk_table
    return stop_thresholds(
        learner.network,
        held_out,
        learner.config.max_steps,
        table.lookup_lists([e.chunks for e in held_out]) if table is not None else None,
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
                "loss_td": sum(m["loss_td"] for m in block) / len(block),
                "loss_labels": sum(m["loss_labels"] for m in block) / len(block),
                "updates_per_s": len(block) / sum(1.0 / m["updates_per_s"] for m in block),
                "learning_rate": block[-1]["learning_rate"],
                "alpha": block[-1]["alpha"],
            }
        )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _load_resumable(path: Path) -> Checkpoint:
    """The run's latest checkpoint; a damaged one names the way out of it."""
    try:
        saved = load_checkpoint(path)
    except QragInputError as error:
        problem = str(error).split(" Fix:", 1)[0].rstrip(".")
        raise QragInputError(
            f"cannot resume training from {str(path)!r}: {problem}. Fix: delete that "
            "folder to resume from the run's checkpoint before it (or the whole run "
            f"folder {str(path.parent)!r} to start over), then run the same command."
        ) from error
    if "learner" not in saved.training_state or "history" not in saved.training_state:
        raise QragInputError(
            f"cannot resume training from {str(path)!r}: it holds no training state "
            "(an inference-only checkpoint). Fix: delete that folder to resume from the "
            "checkpoint before it, or start over without it."
        )
    return saved


def _remove_unfinished_saves(run_dir: Path) -> None:
    """Delete the staging folders of checkpoints whose save a crash interrupted.

    `save_checkpoint` writes under a hidden temporary name and renames when complete,
    so a killed run can leave only such hidden folders, never a half-written
    checkpoint; `latest_checkpoint` ignores them, and this reclaims their space.
    """
    if not run_dir.is_dir():
        return
    for unfinished in sorted(run_dir.glob(f".{CHECKPOINT_PREFIX}*")):
        LOGGER.info("removing %s, the remains of an interrupted checkpoint save", unfinished)
        shutil.rmtree(unfinished, ignore_errors=True)


def _save_training_state(
    learner: QLearner,
    history: list[dict[str, float]],
    best: BestEvaluation | None,
    run_dir: Path,
    keep: int,
) -> None:
    """Rank 0 writes the run's checkpoint, with every rank's own training tensors and
    environments gathered to it (`RANK_OWN_TENSORS`; rank r's under `rank<r>.`),
    and keeps the latest `keep`. Every rank must call it at the same update."""
    tensors, values = learner.state_dict()
    ranks = learner.ranks
    own = {k: v for k, v in tensors.items() if k.startswith(RANK_OWN_TENSORS)}
    gathered = gather_to_first((own, values["env"]), ranks)
    if gathered is None:
        return
    for rank, (rank_tensors, env) in enumerate(gathered[1:], start=1):
        tensors |= {rank_tensor_key(rank, k): v for k, v in rank_tensors.items()}
        values.setdefault("rank_envs", []).append(env)
    state: dict[str, Any] = {"learner": values, "history": history}
    if ranks.is_distributed:
        state["world_size"] = ranks.world_size
    if best is not None:
        best_tensors, state["best"] = best.saved()
        tensors |= best_tensors
    checkpoint = Checkpoint.from_network(learner.network, training_tensors=tensors, training_state=state)
    save_checkpoint(checkpoint, run_dir / f"{CHECKPOINT_PREFIX}{learner.updates:08d}")
    for old in sorted(run_dir.glob(f"{CHECKPOINT_PREFIX}*"))[:-keep]:
        shutil.rmtree(old)


def _rank_state(saved: Checkpoint, ranks: Ranks, path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The learner state of rank `ranks.rank` in a checkpoint `_save_training_state`
    wrote: the shared weights and moments with this rank's own tensors and
    environments. A run resumes only on as many processes as it was trained on."""
    saved_world = int(saved.training_state.get("world_size", 1))
    if saved_world != ranks.world_size:
        raise QragInputError(
            f"cannot resume training from {str(path)!r}: it was trained on {saved_world} "
            f"process(es), and this run has {ranks.world_size}. Fix: run it again with "
            f"{saved_world} process(es) in all (train_q.distributed), or delete the run "
            f"folder {str(path.parent)!r} to start over."
        )
    tensors, values = dict(saved.training_tensors), dict(saved.training_state["learner"])
    if ranks.rank > 0:
        prefix = rank_tensor_key(ranks.rank, "")
        tensors |= {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
        values["env"] = values["rank_envs"][ranks.rank - 1]
    return tensors, values


def _progress_fields(history: Sequence[Mapping[str, float]], interval: int) -> dict[str, str]:
    recent = history[-interval:]
    mean_return = _weighted_mean([m["mean_return"] for m in recent], [m["episodes"] for m in recent])
    fields = {
        "loss": f"{sum(m['loss'] for m in recent) / len(recent):.4f}",
        "return": f"{mean_return:.3f}",
    }
    evaluated = [m["eval_fact_em"] for m in history if "eval_fact_em" in m]
    if evaluated:
        fields["eval_em"] = f"{evaluated[-1]:.2f}"
    return fields


def _weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if w > 0 and not math.isnan(v)]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else math.nan
