"""Distractor prose and one-thread torch for the learner's tests.

The tiny Q-networks (`make_tiny_network`, `default_tokenizer`) are in tests/conftest.py.
"""

from __future__ import annotations

import pytest

from qrag_pipeline.sources.prose_generator import generate_prose


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def train_prose() -> dict[str, list[str]]:
    """Distractor documents for training episodes."""
    return generate_prose(4, 50, seed=0, split="train")


@pytest.fixture(scope="session")
def held_out_prose() -> dict[str, list[str]]:
    """Distractor documents for held-out episodes, in words unseen in training."""
    return generate_prose(2, 50, seed=0, split="test")
