"""Distractor prose and one-thread torch for the learner's tests.

The tiny Q-networks (`make_tiny_network`, `default_tokenizer`) are in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from qrag_pipeline.sources.prose_generator import generate_prose


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One thread: tiny matrices gain nothing from two, and results are reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def train_prose() -> dict[str, list[str]]:
    """Distractor documents for training episodes."""
    return generate_prose(4, 50, seed=0, split="train")


@pytest.fixture(scope="session")
def held_out_prose() -> dict[str, list[str]]:
    """Distractor documents for held-out episodes, in words unseen in training."""
    return generate_prose(2, 50, seed=0, split="test")
