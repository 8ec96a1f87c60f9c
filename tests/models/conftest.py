"""A tiny encoder saved as a pretrained folder, the real default encoder (whole and cut
to two layers), and the texts the inference backends are compared on.

The tiny factories (`make_tiny`, `make_tiny_network`) are in tests/conftest.py; only
the tests that compare with sentence-transformers or truncate real layers load the
real model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qrag_pipeline.models.encoder import DEFAULT_ENCODER, TextEncoder
from tests.conftest import TinyFactory


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, make_tiny: TinyFactory) -> Path:
    """A tiny encoder saved as a pretrained directory (config, weights, tokenizer)."""
    directory = tmp_path_factory.mktemp("tiny_bert")
    encoder = make_tiny(seed=7)
    encoder.model.save_pretrained(directory)
    encoder.tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def default_encoder() -> TextEncoder:
    """The real all-MiniLM-L6-v2, unscaled, with sentence-transformers' 256 tokens."""
    return TextEncoder.from_pretrained(DEFAULT_ENCODER, scale=1.0, max_length=256)


BACKEND_TEXTS = [
    "Mary went back to the kitchen.",
    "The old miller counted his sacks of flour before the sun went down behind the hill.",
    "One of the special magic numbers for brave-otter is: 4412907.",
    "Hi.",
    "John picked up the football there.",
]
"""bAbI, book, NIAH and one-word texts: the inference backends must agree on each kind."""


@pytest.fixture(scope="session")
def two_layer_encoder() -> TextEncoder:
    """The real default encoder, cut to its first two layers (real weights, quick)."""
    return TextEncoder.from_pretrained(num_layers=2, max_length=64)
