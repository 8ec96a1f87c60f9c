"""Rotary encoding: a turn per pair and half, so dot products see p1 - p2 only."""

from __future__ import annotations

import math

import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.rotary import rotate


def _per_half_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).unflatten(-1, (2, -1)).sum(-1)


def test_a_quarter_turn_by_hand() -> None:
    vectors = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    rotated = rotate(vectors, torch.tensor([math.pi / 2]))
    torch.testing.assert_close(rotated, torch.tensor([[0.0, 1.0, -1.0, 0.0]]), atol=1e-6, rtol=0)


def test_pair_frequencies_follow_the_base() -> None:
    vectors = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    rotated = rotate(vectors, torch.tensor([1.0]), n_halves=1, base=100.0)
    # pair 0 turns by 1 rad, pair 1 by 100**(-2/4) = 0.1 rad
    expected = torch.tensor([[math.cos(1), math.sin(1), math.cos(0.1), math.sin(0.1)]])
    torch.testing.assert_close(rotated, expected)


def test_norms_are_preserved_and_position_zero_is_identity() -> None:
    torch.manual_seed(0)
    vectors = torch.randn(3, 7, 16)
    positions = torch.rand(3, 7) * 100
    rotated = rotate(vectors, positions)
    halves = rotated.unflatten(-1, (2, 8)).norm(dim=-1)
    torch.testing.assert_close(halves, vectors.unflatten(-1, (2, 8)).norm(dim=-1))
    torch.testing.assert_close(rotate(vectors, torch.zeros(7)), vectors)


def test_per_half_dot_products_depend_only_on_the_position_difference() -> None:
    torch.manual_seed(1)
    a, b = torch.randn(2, 5, 32)
    p1, p2 = torch.rand(2, 5) * 60
    shift = torch.rand(5) * 60 - 30
    before = _per_half_dots(rotate(a, p1), rotate(b, p2))
    after = _per_half_dots(rotate(a, p1 + shift), rotate(b, p2 + shift))
    torch.testing.assert_close(before, after, atol=1e-4, rtol=1e-4)
    with_difference = _per_half_dots(rotate(a, p1 - p2), b)
    torch.testing.assert_close(before, with_difference, atol=1e-4, rtol=1e-4)


def test_gradient_flows_back_through_the_rotation() -> None:
    torch.manual_seed(3)
    vectors = torch.randn(5, 8, requires_grad=True)
    rotate(vectors, torch.rand(5) * 50).pow(2).sum().backward()
    torch.testing.assert_close(vectors.grad, 2 * vectors.detach())  # |Rx|^2 = |x|^2


def test_half_precision_in_half_precision_out() -> None:
    vectors = torch.randn(3, 8)
    rotated = rotate(vectors.bfloat16(), torch.arange(3.0))
    assert rotated.dtype == torch.bfloat16
    torch.testing.assert_close(rotated.float(), rotate(vectors, torch.arange(3.0)), atol=0.05, rtol=0.02)


def test_positions_broadcast_over_leading_dimensions() -> None:
    torch.manual_seed(2)
    vectors = torch.randn(4, 6, 8)
    positions = torch.arange(6.0)
    rotated = rotate(vectors, positions)
    for row in range(4):
        torch.testing.assert_close(rotated[row], rotate(vectors[row], positions))


@pytest.mark.parametrize(("dim", "n_halves"), [(6, 2), (8, 3), (4, 0)])
def test_dimension_must_split_into_halves_of_pairs(dim: int, n_halves: int) -> None:
    with pytest.raises(QragInputError, match="divisible"):
        rotate(torch.zeros(2, dim), torch.zeros(2), n_halves=n_halves)


def test_a_partial_rotation_turns_the_leading_pairs_of_each_half_and_keeps_the_rest() -> None:
    torch.manual_seed(3)
    vectors, positions = torch.randn(5, 16), torch.rand(5) * 40
    rotated = rotate(vectors, positions, fraction=0.5).unflatten(-1, (2, 8))
    halves = vectors.unflatten(-1, (2, 8))
    torch.testing.assert_close(rotated[..., 4:], halves[..., 4:])
    leading = rotate(halves[..., :4].flatten(-2), positions).unflatten(-1, (2, 4))
    torch.testing.assert_close(rotated[..., :4], leading)
    assert not torch.allclose(rotated[..., :4], halves[..., :4])


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_fraction_outside_zero_to_one_names_the_setting(fraction: float) -> None:
    with pytest.raises(QragInputError, match="train_q.model.rotary_fraction"):
        rotate(torch.zeros(2, 8), torch.zeros(2), fraction=fraction)
