"""A small trainable map on top of a frozen action encoder, one per twin half.

With the action encoder kept at its pretrained weights, a chunk's embedding depends on
its text alone: it is computed once (per training pool, per document) and reused by
every update and every checkpoint. This head is what the action side may still learn on
top of it: a square linear map per twin half, applied before the rotation, started at
the identity so that an untrained head leaves Q exactly that of the pretrained pair.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qrag_pipeline.errors import QragInputError

ACTION_HEADS = ("none", "linear")


class TwinLinearHead(nn.Module):
    """`n_halves` independent [d, d] maps, one per half of a D = n_halves * d vector."""

    def __init__(self, dim: int, n_halves: int = 2) -> None:
        super().__init__()
        if dim % n_halves:
            raise QragInputError(f"a {dim}-dimensional embedding cannot be split into {n_halves} halves.")
        half = dim // n_halves
        self.weight = nn.Parameter(torch.eye(half).repeat(n_halves, 1, 1))

    def forward(self, vectors: Tensor) -> Tensor:
        """`vectors` [..., D] mapped half by half (float32 weights, input's dtype out)."""
        halves = vectors.unflatten(-1, (self.weight.shape[0], self.weight.shape[1]))
        mapped = torch.einsum("...hi,hoi->...ho", halves.to(self.weight.dtype), self.weight)
        return mapped.flatten(-2).to(vectors.dtype)


def build_action_head(kind: str, dim: int, n_halves: int) -> nn.Module | None:
    """The head named by `kind` ("none": no head at all, "linear": `TwinLinearHead`)."""
    if kind not in ACTION_HEADS:
        raise QragInputError(
            f"unknown action head {kind!r}. Fix: use one of {', '.join(ACTION_HEADS)} "
            "(train_q.model.action_head)."
        )
    return TwinLinearHead(dim, n_halves) if kind == "linear" else None
