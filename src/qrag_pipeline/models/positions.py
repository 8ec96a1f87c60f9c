"""The positional mapping rho_t: a position value for every chunk of a document.

The action embedding of a chunk is rotated by its position (see `rotary`), which lets
the Q-function prefer "the fact after the one I already have". The relative mapping
(the default) makes that position independent of the document's length: the k chunks
retrieved so far cut the document into k+1 intervals, and a chunk's position says which
interval it lies in (the integer part, in steps of S) and where inside it (the spread
over [0, 0.9*S]). A model trained on 100-chunk documents thus sees the same range of
positions on a 400,000-chunk one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from qrag_pipeline.errors import QragInputError

POSITION_MODES = ("relative", "absolute", "none")

SPREAD = 0.9
"""Fraction of a step over which an interval's chunks are spread, first to last."""

RETRIEVED_OFFSET = 0.95
"""Where a retrieved chunk sits in the step of the interval it closes: halfway between
that interval's last chunk (0.9*S) and the next interval's first ((j+1)*S), so positions
stay non-decreasing in document order. Retrieved chunks are masked out of the choice
anyway; this only gives them a well-defined value."""


def relative_positions(n_chunks: int, retrieved: Tensor, step_size: float = 20.0) -> Tensor:
    """Positions [n_chunks] (float32) under the relative mapping.

    Interval j (the chunks between the j-th and (j+1)-th retrieved chunk in document
    order) spans positions j*S (its first chunk) to j*S + 0.9*S (its last), evenly
    spaced; a lone chunk gets j*S. With nothing retrieved the whole document is
    interval 0. The j-th retrieved chunk (0-based, document order) gets
    j*S + 0.95*S. `retrieved` may be in any order; cost O(N log k).
    """
    boundaries = _sorted_indices(n_chunks, retrieved)
    index = torch.arange(n_chunks, device=boundaries.device)
    interval = torch.searchsorted(boundaries, index)
    edges = torch.cat([boundaries.new_tensor([-1]), boundaries, boundaries.new_tensor([n_chunks])])
    first = edges[interval] + 1
    next_boundary = edges[interval + 1]
    offset = index - first
    spacing = SPREAD * step_size / (next_boundary - first - 1).clamp(min=1)
    positions = interval * step_size + offset * spacing
    is_retrieved = next_boundary == index
    return torch.where(is_retrieved, (interval + RETRIEVED_OFFSET) * step_size, positions).float()


def chunk_positions(mode: str, n_chunks: int, retrieved: Tensor, step_size: float = 20.0) -> Tensor:
    """Positions [n_chunks] (float32, on `retrieved`'s device) under `mode`.

    "relative": see `relative_positions`; "absolute": the chunk index (grows with the
    document, so it does not transfer across lengths); "none": zeros (no rotation).
    """
    check_position_mode(mode)
    if mode == "relative":
        return relative_positions(n_chunks, retrieved, step_size)
    device = torch.as_tensor(retrieved).device
    if mode == "absolute":
        return torch.arange(n_chunks, dtype=torch.float32, device=device)
    return torch.zeros(n_chunks, dtype=torch.float32, device=device)


def check_position_mode(mode: str) -> None:
    """Fail early, with the choices, on a mode that `chunk_positions` would not know."""
    if mode not in POSITION_MODES:
        raise QragInputError(f"unknown position mode {mode!r}. Fix: use one of {', '.join(POSITION_MODES)}.")


def _sorted_indices(n_chunks: int, retrieved: Tensor) -> Tensor:
    """The retrieved chunk indices, sorted and unique, checked against the document."""
    if n_chunks < 0:
        raise QragInputError(f"a document cannot have {n_chunks} chunks.")
    indices = torch.as_tensor(retrieved, dtype=torch.long).reshape(-1)
    if indices.numel() and (indices.min() < 0 or indices.max() >= n_chunks):
        raise QragInputError(
            f"retrieved chunk indices {indices.tolist()} must lie in 0..{n_chunks - 1} "
            "(the document's chunks)."
        )
    return torch.unique(indices, sorted=True)
