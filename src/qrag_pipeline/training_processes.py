"""train_q on several processes: torch.distributed's elastic launcher starts the ranks.

`kedro run --pipelines train_q` stays the one command. With
`train_q.distributed.nproc_per_node: 1` and `nnodes: 1` (the default) the run is the
single process it always was. With more, the train_q node starts `nproc_per_node`
worker processes through `torch.distributed.elastic` (the engine behind `torchrun`),
each one rank of a data-parallel run (`rl/ranks.py`: its own episodes, the gradients
averaged over all ranks), on `gloo` (CPU) or `nccl` (CUDA, one GPU per rank). Several
machines each run the same command with `nnodes` and the same `rdzv_endpoint` (a
host:port of one of them, reachable by all); the run folder (`train_q.run_root`) must
then be on storage they share, as rank 0 writes the checkpoints every rank resumes
from. Rank 0's model, curve and stop thresholds are sent to every rank at the end, so
each machine's `kedro run` saves the same checkpoint.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.errors import QragInputError, TrainingDivergedError
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.rl.config import DistributedConfig, distributed_config
from qrag_pipeline.rl.ranks import Ranks
from qrag_pipeline.training import run_training
from qrag_pipeline.training_data import TrainingPools


def train_on_processes(
    train_q: Mapping[str, Any],
    pools: TrainingPools,
    pool_embeddings: EpisodeEmbeddings | None,
    run_dir: Path | None,
) -> tuple[Checkpoint, pd.DataFrame]:
    """The train_q run of `train_q` (`training.run_training`), in this process or on
    the ranks `train_q.distributed` asks for: its checkpoint and training curve (rank
    0's), what the train_q node hands on."""
    settings = distributed_config(train_q.get("distributed"))
    if settings.processes == 1:
        result = run_training(train_q, pools, pool_embeddings, run_dir)
        return result.checkpoint, result.curves
    results = launch(settings, _train_rank, dict(train_q), pools, pool_embeddings, run_dir, settings.backend)
    return next(value for value in results.values() if value is not None)


def launch(settings: DistributedConfig, entrypoint: Callable[..., Any], *args: Any) -> dict[int, Any]:
    """`entrypoint(*args)` in each of this machine's `settings.nproc_per_node` worker
    processes (spawned: `entrypoint` must be importable, `args` picklable), after the
    machines' rendezvous; each local rank's return value. A failed rank stops them
    all and is raised as its own error (`_rank_error`)."""
    config = LaunchConfig(
        min_nodes=settings.nnodes,
        max_nodes=settings.nnodes,
        nproc_per_node=settings.nproc_per_node,
        run_id=f"qrag-train-q-{uuid.uuid4().hex[:12]}" if settings.nnodes == 1 else "qrag-train-q",
        rdzv_backend="c10d",
        rdzv_endpoint=settings.rdzv_endpoint,
        max_restarts=0,
        monitor_interval=0.5,
        # one machine: the ranks meet on localhost, not at this host's FQDN, which a
        # sandbox or CI machine may not resolve
        local_addr="localhost" if settings.nnodes == 1 else None,
    )
    with _quiet_launcher():
        try:
            return elastic_launch(config, entrypoint)(*args)
        except ChildFailedError as error:
            raise _rank_error(error) from None


@contextmanager
def process_group(device_name: str, backend: str) -> Iterator[tuple[Ranks, torch.device]]:
    """This worker process as its rank of the launched run, on its device: the local
    rank's GPU on CUDA, else the CPU with its share of the machine's cores; `backend`
    auto is nccl on CUDA and gloo on the CPU."""
    local_rank, local_world = int(os.environ["LOCAL_RANK"]), int(os.environ["LOCAL_WORLD_SIZE"])
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    dist.init_process_group(("nccl" if device.type == "cuda" else "gloo") if backend == "auto" else backend)
    try:
        yield Ranks.current(), device
    finally:
        dist.destroy_process_group()


def _train_rank(
    train_q: dict[str, Any],
    pools: TrainingPools,
    pool_embeddings: EpisodeEmbeddings | None,
    run_dir: Path | None,
    backend: str,
) -> tuple[Checkpoint, pd.DataFrame] | None:
    """One rank's run (in each worker process): train, then take rank 0's checkpoint and
    curve, which local rank 0 of each machine returns."""
    with process_group(train_q["device"], backend) as (ranks, device):
        result = run_training({**train_q, "device": str(device)}, pools, pool_embeddings, run_dir, ranks)
        payload = [(result.checkpoint, result.curves) if ranks.is_first else None]
        dist.broadcast_object_list(payload, src=0)
        return payload[0] if int(os.environ["LOCAL_RANK"]) == 0 else None


def _rank_error(error: ChildFailedError) -> Exception:
    """The first failed rank's own error, as the error it raised where it is one of
    ours (a bad parameter, a diverged run), else a RuntimeError naming the rank."""
    rank, failure = error.get_first_failure()
    detail = failure.message
    message = detail.get("message", "") if isinstance(detail, dict) else str(detail)
    kind, _, text = message.partition(": ")
    if kind.endswith("TrainingDivergedError"):
        update = re.search(r"at update (\d+)", text)
        return TrainingDivergedError(text, int(update.group(1)) if update else 0)
    if kind.endswith("QragInputError"):
        return QragInputError(text)
    return RuntimeError(
        f"train_q rank {rank} failed (exit code {failure.exitcode}): {message or 'no message'}. "
        "The other ranks were stopped; the run's last checkpoint stays, and the same "
        "command resumes from it."
    )


@contextmanager
def _quiet_launcher() -> Iterator[None]:
    """The launcher's own log lines silenced while it runs: a failed rank's error is
    raised here as one message, not logged as a traceback line by line."""
    logger = logging.getLogger("torch.distributed.elastic")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
