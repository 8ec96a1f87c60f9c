"""Rotary position encoding of chunk embeddings, applied to each twin half separately.

Rotating a chunk's embedding by angles proportional to its position makes the dot
product with an (unrotated) state embedding a function of the position, as in rotary
position embeddings: <R(p1) a, R(p2) b> depends on p1 - p2 only. Each half of the
embedding is one twin Q head, so each half is rotated on its own with the same
frequencies, and both heads see positions the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor

from qrag_pipeline.errors import QragInputError


def rotate(
    vectors: Tensor,
    positions: Tensor,
    n_halves: int = 2,
    base: float = 10000.0,
    fraction: float = 1.0,
) -> Tensor:
    """`vectors` [..., N, D] rotated by `positions` [..., N] (broadcastable).

    D is split into `n_halves` equal parts of size d; in each, the pair
    (x[2i], x[2i+1]) turns by the angle position * base**(-2i/d): read as the complex
    number x[2i] + i*x[2i+1], it is multiplied by exp(i*angle), one fused kernel
    (2-3x faster than cos/sin arithmetic on 400,000 chunks). The arithmetic is in
    float32 whatever the input dtype: relative positions (below (k+1)*S) keep their
    angle error under 1e-5 rad; absolute positions of very long documents do not.

    With `fraction` < 1 only the first `fraction` of each half's dimensions (whole
    pairs) turn, with the full range of frequencies over them; the rest keep the
    content unrotated, so the dot product there is plain similarity whatever the
    position. Fully rotated, the fast-turning pairs scramble the fine differences
    between near-identical chunks: with the pretrained encoder, RULER niah_multikey_3
    (a UUID needle among 159 other UUID needles, 4k) ranks the asked needle first in 4
    of 5 test episodes unrotated, and 46th to 115th in 4 of 5 fully rotated.
    """
    if not 0.0 <= fraction <= 1.0:
        raise QragInputError(
            f"a rotary fraction of {fraction!r} is not between 0 and 1. Fix: set "
            "train_q.model.rotary_fraction to a number from 0 (no rotation) to 1 (all "
            "dimensions)."
        )
    dim = vectors.shape[-1]
    if n_halves < 1 or dim % (2 * n_halves):
        raise QragInputError(
            f"cannot rotate {dim}-dimensional embeddings in {n_halves} halves of "
            "pairs: n_halves must be at least 1 and the dimension divisible by "
            "2 * n_halves. Fix: use an encoder whose hidden size is a multiple of 4 "
            "(all common ones are)."
        )
    half = dim // n_halves
    turning = int(half * fraction) // 2 * 2
    if turning == 0:
        return vectors
    if turning < half:
        parts = vectors.unflatten(-1, (n_halves, half))
        turned = rotate(parts[..., :turning].flatten(-2), positions, n_halves, base)
        return torch.cat([turned.unflatten(-1, (n_halves, turning)), parts[..., turning:]], dim=-1).flatten(
            -2
        )
    exponents = torch.arange(0, half, 2, device=vectors.device) / half
    frequencies = base ** (-exponents.float())
    angles = positions.to(vectors.device, torch.float32).unsqueeze(-1) * frequencies
    turns = torch.polar(torch.ones_like(angles), angles).unsqueeze(-2)
    pairs = vectors.float().unflatten(-1, (n_halves, half // 2, 2)).contiguous()
    rotated = torch.view_as_complex(pairs) * turns
    return torch.view_as_real(rotated).flatten(-3).to(vectors.dtype)
