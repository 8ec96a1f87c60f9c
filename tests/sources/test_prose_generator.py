"""The built-in distractor prose: seeded, varied, free of bAbI words, split-disjoint.

A 40,000-sentence document is the size of a BabiLong 1M-token episode, the largest
one the default pipeline builds from a single document.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.books import check_disjoint_sources
from qrag_pipeline.sources.prose_generator import generate_prose

ONE_MILLION_TOKEN_SENTENCES = 40_000
MAX_REPEAT_RATE = 0.005
# Every name, room and object of bAbI tasks 1-5, the relation phrases of qa4 and the
# verbs its facts are made of: a distractor holding one could read as a story fact.
BABI_WORDS = (
    "Mary John Daniel Sandra Fred Bill Jeff bathroom hallway garden office bedroom "
    "kitchen football apple milk north south east west went moved journeyed travelled "
    "took got grabbed picked dropped discarded left gave handed passed"
).split()
BABI_WORD = re.compile(r"\b(?:" + "|".join(BABI_WORDS) + r")\w*", re.IGNORECASE)
BABI_RELATION = re.compile(r"\b(?:north|south|east|west) of\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def large() -> dict[str, list[str]]:
    """One 1M-token-sized document per split, generated once for the module."""
    return {
        split: generate_prose(1, ONE_MILLION_TOKEN_SENTENCES, seed=7, split=split)[f"prose-{split}-0000"]
        for split in ("train", "test")
    }


def test_shape_matches_load_books() -> None:
    documents = generate_prose(3, 25, seed=0, split="test")
    assert list(documents) == ["prose-test-0000", "prose-test-0001", "prose-test-0002"]
    assert all(len(sentences) == 25 for sentences in documents.values())
    assert all(isinstance(s, str) for sentences in documents.values() for s in sentences)


def test_same_seed_gives_the_same_text_and_the_default_split_is_train() -> None:
    first = generate_prose(2, 200, seed=11)
    assert first == generate_prose(2, 200, seed=11, split="train")


def test_different_seeds_and_documents_give_different_text() -> None:
    first, second = generate_prose(2, 200, seed=1).values()
    other_seed = generate_prose(2, 200, seed=2)["prose-train-0000"]
    assert len(set(first) & set(second)) <= 1
    assert len(set(first) & set(other_seed)) <= 1


def test_no_babi_vocabulary_in_either_split(large: dict[str, list[str]]) -> None:
    for split, sentences in large.items():
        hits = [s for s in sentences if BABI_WORD.search(s) or BABI_RELATION.search(s)]
        assert hits == [], (split, hits[:3])


def test_few_exact_repeats_in_a_one_million_token_document(
    large: dict[str, list[str]],
) -> None:
    for split, sentences in large.items():
        repeat_rate = 1 - len(set(sentences)) / len(sentences)
        assert repeat_rate < MAX_REPEAT_RATE, (split, repeat_rate)
        assert Counter(sentences).most_common(1)[0][1] <= 3, split


def test_sentences_are_varied_and_well_formed(large: dict[str, list[str]]) -> None:
    for split, sentences in large.items():
        lengths = Counter(len(s.split()) for s in sentences)
        assert min(lengths) >= 8 and max(lengths) <= 30, split
        assert len(lengths) >= 20, split  # lengths spread over the range
        assert len({" ".join(s.split()[:3]) for s in sentences}) >= 500, split
        assert all(s[0].isupper() and s.endswith(".") for s in sentences), split
        assert not [s for s in sentences if re.search(r"\ba [aeiou]", s, re.I)], split


def test_train_and_test_prose_never_share_a_sentence(
    large: dict[str, list[str]],
) -> None:
    assert set(large["train"]).isdisjoint(large["test"])
    train = generate_prose(4, 500, seed=3, split="train")
    test = generate_prose(4, 500, seed=3, split="test")
    check_disjoint_sources(train, test)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ((0, 10, 1), "n_documents"),
        ((-2, 10, 1), "n_documents"),
        ((2.5, 10, 1), "n_documents"),
        ((2, 0, 1), "sentences_per_document"),
        ((2, True, 1), "sentences_per_document"),
    ],
)
def test_non_positive_counts_are_input_errors(arguments: tuple[int, int, int], parameter: str) -> None:
    with pytest.raises(QragInputError, match=parameter):
        generate_prose(*arguments)


def test_unknown_split_is_an_input_error() -> None:
    with pytest.raises(QragInputError, match="'dev'"):
        generate_prose(1, 10, seed=0, split="dev")
