"""Fixtures of the reliability tests; their scratch projects are tests/projects.py's."""

from __future__ import annotations

import pytest

from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.training_data import babilong_training_data


@pytest.fixture
def training_data() -> tuple[EpisodeSampler, list[Episode]]:
    """Tiny qa1 episodes to train on (sampler) and to validate with, for `train_tiny`."""
    samples = generate_babi_samples("qa1", 12, seed=1)
    return babilong_training_data(samples, generate_prose(1, 40, seed=2), ["qa1"], 12, 2, seed=3)
