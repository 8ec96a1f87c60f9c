"""A tiny encoder saved as a pretrained folder, and the real default encoder.

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
