"""The one retrieval trace and its three stop rules, on a hand-built trace.

Each expected list is read off the trace by eye: the stop rules decide which chunks
the reported fact scores (docs/benchmarks.md, "Metrics") are computed on.
"""

from __future__ import annotations

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.metrics import FactScores, fact_scores
from qrag_pipeline.retrieval.trace import (
    Trace,
    best_stop_threshold,
    fixed_steps,
    learned_stop,
    oracle_stop,
)

# Support {2, 7, 9}; retrieval order 7, 4, 9, 1, 2, 5 with falling Q values.
SUPPORT = [2, 7, 9]
TRACE = Trace(retrieved=[7, 4, 9, 1, 2, 5], q_values=[0.9, 0.8, 0.6, 0.4, 0.45, 0.1])


def test_a_trace_needs_one_q_value_per_step() -> None:
    with pytest.raises(QragInputError, match="3 indices but 2 Q values"):
        Trace(retrieved=[1, 2, 3], q_values=[0.5, 0.4])


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (0, []),
        (1, [7]),
        (3, [7, 4, 9]),
        (6, [7, 4, 9, 1, 2, 5]),
        (10, [7, 4, 9, 1, 2, 5]),  # more steps than taken: the whole trace
    ],
)
def test_fixed_steps_keeps_the_first_t(steps: int, expected: list[int]) -> None:
    assert fixed_steps(TRACE, steps) == expected


def test_fixed_steps_refuses_a_negative_count() -> None:
    with pytest.raises(QragInputError, match="-1"):
        fixed_steps(TRACE, -1)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.5, [7, 4, 9]),  # 0.4 < 0.5 stops; the later 0.45 is never reached
        (0.6, [7, 4, 9]),  # Q equal to the threshold is kept
        (0.42, [7, 4, 9]),  # stops at 0.4 even though 0.45 would pass
        (0.05, [7, 4, 9, 1, 2, 5]),  # never under: the whole trace
        (0.95, []),  # the first Q is already under: nothing is kept
    ],
)
def test_learned_stop(threshold: float, expected: list[int]) -> None:
    assert learned_stop(TRACE, threshold) == expected


def test_learned_stop_with_nothing_kept_scores_zero() -> None:
    nothing = FactScores(em=0.0, precision=0.0, recall=0.0, f1=0.0)
    assert fact_scores(SUPPORT, learned_stop(TRACE, 0.95)) == nothing


@pytest.mark.parametrize(
    ("support", "expected"),
    [
        ([2, 7, 9], [7, 4, 9, 1, 2]),  # 2 is the last found, at step 5
        ([9, 7], [7, 4, 9]),  # both found by step 3
        ([7], [7]),
        ([3, 7], [7, 4, 9, 1, 2, 5]),  # 3 is never found: the whole trace
        ([], [7, 4, 9, 1, 2, 5]),  # unknown support: the whole trace
    ],
)
def test_oracle_stop(support: list[int], expected: list[int]) -> None:
    assert oracle_stop(TRACE, support) == expected


def test_oracle_stop_f1() -> None:
    """The reference's ablation figure: F1 at the oracle stop.

    Found {2, 7, 9} in 5 steps: P = 3/5, R = 1, F1 = 2*0.6/1.6 = 0.75.
    """
    assert fact_scores(SUPPORT, oracle_stop(TRACE, SUPPORT)).f1 == pytest.approx(0.75)


def test_the_best_stop_threshold_separates_the_picks_that_find_facts_from_the_rest() -> None:
    # high Q while facts are found, low Q after: every threshold between 0.2 and 0.6
    # keeps exactly the facts; the chosen one lies in the middle of that gap
    traces = [Trace([3, 5, 1, 0], [0.9, 0.6, 0.2, 0.1]), Trace([4, 2, 6, 7], [0.8, 0.15, 0.1, 0.05])]
    supports = [[3, 5], [4]]
    threshold = best_stop_threshold(traces, supports)
    assert 0.2 < threshold < 0.6
    assert [learned_stop(t, threshold) for t in traces] == [[3, 5], [4]]
    with pytest.raises(QragInputError, match="one support list per trace"):
        best_stop_threshold(traces, supports[:1])
