"""One-thread torch and small hand-built documents for the retrieval tests.

The tiny Q-networks (`make_tiny_network`, `make_tiny`) are in tests/conftest.py.
"""

from __future__ import annotations

import pytest

from qrag_pipeline.episodes import Episode

PEOPLE = ["Mary", "John", "Sandra", "Daniel"]
PLACES = ["garden", "kitchen", "office", "hallway", "bathroom"]


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (see tests/conftest.py)."""


def moves(n: int, shift: int) -> list[str]:
    """`n` bAbI-like sentences; documents with different shifts share some of them."""
    return [f"{PEOPLE[(i + shift) % 4]} went to the {PLACES[(i * 3 + shift) % 5]}." for i in range(n)]


def episode(episode_id: str, question: str, chunks: list[str]) -> Episode:
    return Episode(episode_id, "test", "qa1", "t", question, "", chunks, [])


def small_episodes() -> list[Episode]:
    """Documents of 12, 15 and 2 chunks that repeat sentences within and across."""
    return [
        episode("a", "Where is Mary?", moves(12, 0)),
        episode("b", "Where is John?", moves(9, 1) + moves(6, 2)),
        episode("c", "Where is Sandra?", ["Sandra went to the office.", "Mary slept."]),
    ]
