"""Which torch device a stage runs on, from its `device` parameter.

Training, embedding and evaluation all read the same setting, so one function names it:
"auto" takes the GPU when there is one, so the same configuration runs on a laptop and
on a GPU machine.
"""

from __future__ import annotations

import torch

from qrag_pipeline.errors import QragInputError


def resolve_device(name: str) -> torch.device:
    """ "auto" is CUDA when there is a GPU, else the CPU; any torch device name works."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise QragInputError(f"unknown device {name!r}. Fix: use auto, cpu or cuda.") from error
