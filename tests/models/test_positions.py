"""The positional mapping rho_t against values computed by hand, with S = 20."""

from __future__ import annotations

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.positions import (
    POSITION_MODES,
    chunk_positions,
    relative_positions,
)


def _positions(n_chunks: int, retrieved: list[int], step_size: float = 20.0) -> list[float]:
    return relative_positions(n_chunks, torch.tensor(retrieved, dtype=torch.long), step_size).tolist()


def test_before_any_retrieval_the_document_spans_zero_to_nine_tenths_of_a_step() -> None:
    assert _positions(5, []) == pytest.approx([0.0, 4.5, 9.0, 13.5, 18.0])
    long = relative_positions(1001, torch.tensor([], dtype=torch.long))
    assert long[0] == 0 and long[-1] == pytest.approx(18.0)
    assert torch.allclose(long.diff(), torch.full((1000,), 0.018), rtol=0, atol=1e-5)


def test_retrieved_chunks_cut_intervals_one_step_apart() -> None:
    # intervals [0..2], [4..6], [8..9]; retrieved chunks 3 and 7 sit at j*S + 0.95*S
    expected = [0.0, 9.0, 18.0, 19.0, 20.0, 29.0, 38.0, 39.0, 40.0, 58.0]
    assert _positions(10, [3, 7]) == pytest.approx(expected)
    assert _positions(10, [7, 3]) == pytest.approx(expected), "retrieval order must not matter"


def test_step_size_scales_every_position() -> None:
    assert _positions(10, [3, 7], step_size=10.0) == pytest.approx(
        [0.0, 4.5, 9.0, 9.5, 10.0, 14.5, 19.0, 19.5, 20.0, 29.0]
    )


def test_a_lone_chunk_sits_at_the_start_of_its_interval() -> None:
    assert _positions(3, [1]) == pytest.approx([0.0, 19.0, 20.0])


def test_first_and_last_chunk_retrieved() -> None:
    assert _positions(5, [0, 4]) == pytest.approx([19.0, 20.0, 29.0, 38.0, 39.0])


def test_adjacent_retrieved_chunks_leave_an_empty_interval() -> None:
    assert _positions(5, [1, 2]) == pytest.approx([0.0, 19.0, 39.0, 40.0, 58.0])
    assert _positions(3, [2, 0, 1]) == pytest.approx([19.0, 39.0, 59.0])


def test_single_chunk_and_empty_documents() -> None:
    assert _positions(1, []) == [0.0]
    assert _positions(1, [0]) == pytest.approx([19.0])
    assert _positions(0, []) == []


def test_a_10m_token_document_maps_in_order() -> None:
    n_chunks = 400_000
    retrieved = torch.tensor([399_999, 5, 250_000, 100_000, 3_999, 100_001])
    positions = relative_positions(n_chunks, retrieved)
    assert positions.dtype == torch.float32 and positions.shape == (n_chunks,)
    assert bool((positions.diff() >= 0).all()), "positions follow document order"
    assert positions[6] == 20.0 and positions[3_998] == pytest.approx(38.0)
    assert positions[-1] == pytest.approx(119.0)


def test_modes() -> None:
    retrieved = torch.tensor([2])
    torch.testing.assert_close(chunk_positions("relative", 4, retrieved), relative_positions(4, retrieved))
    assert chunk_positions("absolute", 4, retrieved).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert chunk_positions("none", 4, retrieved).tolist() == [0.0] * 4
    assert POSITION_MODES == ("relative", "absolute", "none")


def test_unknown_mode_lists_the_modes() -> None:
    with pytest.raises(QragInputError, match="relative, absolute, none"):
        chunk_positions("rope", 4, torch.tensor([], dtype=torch.long))


@pytest.mark.parametrize("retrieved", [[5], [-1], [0, 9]])
def test_retrieved_indices_must_lie_in_the_document(retrieved: list[int]) -> None:
    with pytest.raises(QragInputError, match=r"0\.\.4"):
        relative_positions(5, torch.tensor(retrieved))
