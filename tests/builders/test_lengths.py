"""Training document lengths: one size, or a log-uniform range drawn per episode."""

from __future__ import annotations

import numpy as np
import pytest

from qrag_pipeline.builders.babilong import babilong_sampler
from qrag_pipeline.builders.lengths import LengthRange
from qrag_pipeline.builders.ruler import niah_sampler
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose


def test_a_range_draws_every_scale_within_its_bounds_and_a_size_draws_nothing() -> None:
    rng = np.random.default_rng(0)
    lengths = [LengthRange(50, 400).draw(rng) for _ in range(4000)]
    assert min(lengths) == 50 and max(lengths) == 400
    # log-uniform: each doubling about as frequent (50-100, 100-200, 200-400)
    shares = np.histogram(lengths, bins=[50, 100, 200, 401])[0] / len(lengths)
    assert np.allclose(shares, 1 / 3, atol=0.03)
    assert LengthRange(50, 400).draw(rng, at_least=300) >= 300
    state = rng.bit_generator.state
    assert LengthRange(50, 50).draw(rng, at_least=10) == 50
    assert rng.bit_generator.state == state  # one size: the stream is untouched


@pytest.mark.parametrize("value", [0, [10], [40, 20], "50", [1.5, 3], True])
def test_a_bad_value_names_the_parameter(value) -> None:
    with pytest.raises(
        QragInputError, match=r"train_q\.train_sentences=.* must be a whole number .*Fix: e\.g\. 50"
    ):
        LengthRange.of(value)
    assert LengthRange.of([20, 40]) == LengthRange(20, 40) == LengthRange.of(LengthRange(20, 40))


def test_samplers_make_documents_of_drawn_lengths_that_hold_the_story() -> None:
    rng = np.random.default_rng(1)
    samples = generate_babi_samples("qa3", 20, seed=0)
    prose = generate_prose(2, 300, seed=0, split="train")
    sampler = babilong_sampler(samples, prose, LengthRange(20, 300))
    episodes = [sampler(rng) for _ in range(60)]
    fitting = {s.question for s in samples if len(s.facts) <= 300}
    sizes = [len(e.chunks) for e in episodes]
    assert len(set(sizes)) > 20 and max(sizes) <= 300
    for episode in episodes:
        assert episode.question in fitting
        assert len(episode.chunks) >= len(episode.support)
    niah = niah_sampler(["niah_multivalue"], prose, [10, 80])
    assert {len(niah(rng).chunks) for _ in range(30)} <= set(range(10, 81))
