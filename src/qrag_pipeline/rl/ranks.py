"""The learner's place among data-parallel training processes, and what they share.

Each process (rank) steps its own environments, with their own episode stream (the
seed and the rank fix it), and computes its own losses; the gradients of the trainable
weights are averaged over the ranks before every optimiser step, so that every rank
holds the same online and target weights after every update (DistributedDataParallel's
contract, without wrapping the network: the learner calls its encoders in several
ways, and one all-reduce of the gradients is all it needs). One process is rank 0 of
a world of 1: nothing is communicated and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

EPISODE_WEIGHTED_METRICS = ("mean_return", "fact_em")
"""Update metrics averaged over the ranks' finished episodes."""
AVERAGED_METRICS = ("loss", "loss_td", "loss_labels", "mean_q", "mean_target")
"""Update metrics averaged over the ranks."""


@dataclass(frozen=True)
class Ranks:
    """This process's rank in a world of `world_size` training processes."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def current(cls) -> Ranks:
        """The initialised process group's (one process when there is none)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def is_first(self) -> bool:
        """Rank 0: the one that writes checkpoints, curves and progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


SINGLE_PROCESS = Ranks()
"""Rank 0 of a world of one: a run on one process."""


def average_gradients(parameters: Iterable[nn.Parameter], ranks: Ranks) -> None:
    """Replace each gradient by its mean over the ranks (in place; one all-reduce of
    all of them flattened together). A parameter without a gradient on this rank
    counts as a zero gradient, so every rank sends the same shapes."""
    if not ranks.is_distributed:
        return
    parameters = list(parameters)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ranks.world_size
    offset = 0
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = flat[offset : offset + grad.numel()].view_as(grad).clone()
        offset += grad.numel()


def metrics_over_ranks(metrics: Mapping[str, float], ranks: Ranks) -> dict[str, float]:
    """One update's metrics for all ranks together: the finished episodes summed, returns and
    fact EM weighted by each rank's finished episodes, the losses averaged; the rest as
    this rank measured them."""
    merged = dict(metrics)
    if not ranks.is_distributed:
        return merged
    episodes = float(metrics["episodes"])
    weighted = [metrics[k] * episodes if episodes else 0.0 for k in EPISODE_WEIGHTED_METRICS]
    values = torch.tensor([episodes, *weighted, *(metrics[k] for k in AVERAGED_METRICS)], dtype=torch.float64)
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    total, *sums = values.tolist()
    merged["episodes"] = total
    for key, value in zip(EPISODE_WEIGHTED_METRICS, sums[: len(EPISODE_WEIGHTED_METRICS)], strict=True):
        merged[key] = value / total if total else float("nan")
    for key, value in zip(AVERAGED_METRICS, sums[len(EPISODE_WEIGHTED_METRICS) :], strict=True):
        merged[key] = value / ranks.world_size
    return merged


def _collective_device() -> torch.device:
    """Where a tensor made for a collective must live: this rank's GPU under nccl
    (which moves CUDA tensors only), else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_to_first(value: Any, ranks: Ranks) -> list[Any] | None:
    """Every rank's `value`, in rank order, on rank 0 (None on the others; `[value]`
    for one process)."""
    if not ranks.is_distributed:
        return [value]
    gathered: list[Any] | None = [None] * ranks.world_size if ranks.is_first else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def broadcast_from_first(module: nn.Module, ranks: Ranks) -> None:
    """Every rank's `module` takes rank 0's weights (in place), as DistributedDataParallel
    does when it wraps a module: a network with any randomly made part would otherwise
    start apart on each rank."""
    if not ranks.is_distributed:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def rank_tensor_key(rank: int, key: str) -> str:
    """Where rank `rank`'s own training tensor `key` is kept in a checkpoint of the
    whole run (rank 0's stays under its plain key)."""
    return key if rank == 0 else f"rank{rank}.{key}"
