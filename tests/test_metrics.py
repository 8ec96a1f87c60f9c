"""Hand-computed checks of every metric in docs/benchmarks.md.

Each expected number is worked out in the test (as a fraction) so that a reader can
check it without running anything: these figures are what the reports compare against
published results.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qrag_pipeline.episodes import Episode
from qrag_pipeline.metrics import (
    FactScores,
    MetricSummary,
    aggregate,
    babi_answer_correct,
    fact_scores,
    niah_all_found,
    niah_values_found,
    niah_values_in,
    squad_exact_match,
    squad_f1,
    squad_normalize,
)

SUPPORT = [2, 7, 9]


def _scores(retrieved: list[int], support: list[int] = SUPPORT) -> tuple[float, ...]:
    result = fact_scores(support, retrieved)
    return (result.em, result.precision, result.recall, result.f1)


@pytest.mark.parametrize(
    ("retrieved", "expected"),
    [
        # all 3 found among 3: P = R = F1 = 1
        ([9, 2, 7], (1.0, 1.0, 1.0, 1.0)),
        # superset: EM still 1; P = 3/5, R = 1, F1 = 2*0.6*1/1.6 = 0.75
        ([1, 2, 3, 7, 9], (1.0, 0.6, 1.0, 0.75)),
        # 2 of 3 among 4: P = 2/4, R = 2/3, F1 = 2*(1/2)(2/3)/(7/6) = 4/7
        ([7, 4, 9, 1], (0.0, 0.5, 2 / 3, 4 / 7)),
        # nothing right: all 0, no division by zero
        ([0, 1], (0.0, 0.0, 0.0, 0.0)),
        # empty retrieval against known support: precision 0 by convention
        ([], (0.0, 0.0, 0.0, 0.0)),
        # repeats count once: {7} -> P = 1, R = 1/3, F1 = 2*(1/3)/(4/3) = 0.5
        ([7, 7], (0.0, 1.0, 1 / 3, 0.5)),
    ],
)
def test_fact_scores(retrieved: list[int], expected: tuple[float, ...]) -> None:
    assert _scores(retrieved) == pytest.approx(expected)


def test_fact_scores_of_unknown_support_are_nan() -> None:
    """The Hugging Face BabiLong sets carry no support: no fact score is defined."""
    assert all(math.isnan(value) for value in _scores([1, 2], support=[]))


def test_fact_scores_name_their_metric_and_stop_rule() -> None:
    row = FactScores(em=1.0, precision=0.5, recall=1.0, f1=2 / 3).as_row("T=4")
    assert row == {
        "fact_em@T=4": 1.0,
        "fact_precision@T=4": 0.5,
        "fact_recall@T=4": 1.0,
        "fact_f1@T=4": 2 / 3,
    }


@pytest.mark.parametrize(
    ("prediction", "answer", "correct"),
    [
        ("kitchen", "kitchen", True),
        ("Kitchen.", "kitchen", True),
        ("  KITCHEN!  ", "kitchen", True),
        ("the kitchen", "kitchen", False),
        ("kitchens", "kitchen", False),
        ("", "kitchen", False),
    ],
)
def test_babi_answer_correct(prediction: str, answer: str, correct: bool) -> None:
    assert babi_answer_correct(prediction, answer) is correct


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("an apple, a pear and THE plum.", "apple pear and plum"),
        ("Theodore and Anna", "theodore and anna"),  # articles only as whole words
        ("don't stop-believing!", "dont stopbelieving"),  # deleted, not spaced
        ("  lots \t of\n space ", "lots of space"),
        ("The", ""),
    ],
)
def test_squad_normalize(text: str, normal: str) -> None:
    assert squad_normalize(text) == normal


@pytest.mark.parametrize(
    ("prediction", "gold", "em", "f1"),
    [
        ("The Eiffel Tower.", "eiffel tower", 1.0, 1.0),
        # pred [eiffel, tower, in, paris], gold [eiffel, tower]: P = 2/4, R = 1,
        # F1 = 2*(1/2)/(3/2) = 2/3
        ("Eiffel Tower in Paris", "the Eiffel Tower", 0.0, 2 / 3),
        # multiset overlap: pred [new, new, york], gold [new, york] -> common 2
        # P = 2/3, R = 1, F1 = 0.8
        ("new new york", "New York", 0.0, 0.8),
        # common 1 (new): P = 1/2, R = 1/3, F1 = 2*(1/6)/(5/6) = 0.4
        ("new jersey", "new york city", 0.0, 0.4),
        ("yes", "no", 0.0, 0.0),
        ("Yes.", "yes", 1.0, 1.0),
        # yes/no/noanswer are labels (official HotpotQA rule): no partial credit.
        # Plain token F1 would give P = 1/3, R = 1, F1 = 2*(1/3)/(4/3) = 0.5 here.
        ("yes it is", "yes", 0.0, 0.0),
        ("no", "no way", 0.0, 0.0),  # plain F1 would be 2*1*(1/2)/(3/2) = 2/3
        ("noanswer", "no answer", 0.0, 0.0),  # plain F1 0 too: "noanswer" != "no"
        # a span gold against a span prediction keeps partial credit even when a
        # token is "yes": common 1 (yes), P = 1/2, R = 1/2, F1 = 1/2
        ("yes sir", "yes minister", 0.0, 0.5),
        ("the", "a", 1.0, 1.0),  # both normalise to nothing
        ("the", "Paris", 0.0, 0.0),
    ],
)
def test_squad_exact_match_and_f1(prediction: str, gold: str, em: float, f1: float) -> None:
    assert squad_exact_match(prediction, gold) == em
    assert squad_f1(prediction, gold) == pytest.approx(f1)


def _niah(answer: str, chunks: list[str]) -> Episode:
    return Episode("r", "ruler", "niah_multivalue", "4k", "Which numbers?", answer, chunks)


@pytest.mark.parametrize(
    ("chunks", "retrieved", "found", "all_found"),
    [
        (["The number is 1234567.", "x", "And 7654321."], [0, 2], 2 / 2, 1.0),
        (["The number is 1234567.", "x", "And 7654321."], [0, 1], 1 / 2, 0.0),
        (["x", "It is 91234567, 7654321."], [1], 2 / 2, 1.0),  # inside a longer number
        (["The number is 1234567."], [], 0 / 2, 0.0),
    ],
)
def test_ruler_scores_read_the_retrieved_text(
    chunks: list[str], retrieved: list[int], found: float, all_found: float
) -> None:
    episode = _niah("1234567, 7654321", chunks)
    assert niah_values_found(episode, retrieved) == found
    assert niah_all_found(episode, retrieved) == all_found


def test_ruler_answer_score_is_the_share_of_gold_values_written() -> None:
    episode = _niah("1b4e28ba, 7654321, 1111111, 2222222", ["x"])
    assert niah_values_in(episode, "1b4e28ba and 1111111 and 7654321") == 3 / 4
    assert niah_values_in(episode, "1B4E28BA") == 0 / 4  # case counts


def test_aggregate_skips_nan_and_text_and_counts() -> None:
    rows = [
        {"id": "a", "fact_f1@oracle": 1.0, "answer_correct": True, "steps": 2},
        {"id": "b", "fact_f1@oracle": math.nan, "answer_correct": False, "steps": 3},
        {
            "id": "c",
            "fact_f1@oracle": 0.5,
            "answer_correct": np.bool_(True),
            "steps": None,
        },
    ]
    assert aggregate(rows) == {
        "fact_f1@oracle": MetricSummary(mean=0.75, count=2, skipped=1),  # (1 + .5)/2
        "answer_correct": MetricSummary(mean=2 / 3, count=3, skipped=0),
        "steps": MetricSummary(mean=2.5, count=2, skipped=0),  # None is not a number
    }


def test_aggregate_of_only_nan_is_nan_with_count_zero() -> None:
    summary = aggregate([{"fact_em@T=4": math.nan}, {"fact_em@T=4": math.nan}])
    assert list(summary) == ["fact_em@T=4"]
    assert math.isnan(summary["fact_em@T=4"].mean)
    assert (summary["fact_em@T=4"].count, summary["fact_em@T=4"].skipped) == (0, 2)


def test_aggregate_of_no_rows_is_empty() -> None:
    assert aggregate([]) == {}
