"""The lexical channel's term overlap: rare shared words count, common ones little."""

from __future__ import annotations

import random
import uuid

import pytest
import torch

from qrag_pipeline.models.lexical import LexicalIndex


def _needles(count: int) -> tuple[list[str], list[str]]:
    """RULER multikey_3's shape: every chunk the same template around two UUIDs."""
    rng = random.Random(0)
    keys, values = ([str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(count)] for _ in range(2))
    pairs = zip(keys, values, strict=True)
    return keys, [f"One of the special magic uuids for {key} is: {value}." for key, value in pairs]


def test_the_needle_whose_key_the_question_asks_scores_far_above_the_others() -> None:
    keys, chunks = _needles(160)
    index = LexicalIndex(chunks)
    scores = index.scores([f"What is the special magic uuid for {keys[41]} mentioned in the text?"])[0]
    assert scores.shape == (160,) and int(scores.argmax()) == 41
    others = torch.cat([scores[:41], scores[42:]])
    assert scores[41] > 0.5 and others.max() < 0.1  # the shared template weighs little


def test_scores_are_cosines_of_idf_weighted_counts() -> None:
    chunks = ["John went to the kitchen.", "Mary went to the garden.", "The kitchen is warm."]
    texts = ["Where did John go?", "kitchen kitchen", "John went to the kitchen."]
    scores = LexicalIndex(chunks).scores(texts)
    assert torch.all((scores >= 0) & (scores <= 1 + 1e-6))
    assert scores[0].tolist() == pytest.approx([scores[0, 0].item(), 0.0, 0.0]) and scores[0, 0] > 0
    assert scores[1, 0] > 0 and scores[1, 2] > 0 and scores[1, 1] == 0
    assert scores[2, 0] == pytest.approx(1.0)  # a chunk against itself


def test_texts_and_documents_without_words_score_zero_not_nan() -> None:
    scores = LexicalIndex(["", "?!", "a b c"]).scores(["", "nothing shared", "?"])
    assert torch.equal(scores, torch.zeros(3, 3))
    assert len(LexicalIndex(["", ""])) == 2
