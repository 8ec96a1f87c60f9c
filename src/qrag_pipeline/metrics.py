"""Retrieval and answer metrics of docs/benchmarks.md, as plain functions over index lists
and answers.

Every function's docstring says which metric it computes, because a number in a report
must say which metric it is: fact EM@T is lenient on one-fact tasks while fact F1 with
the learned stop is not, and the published figures mix both. The stop rules that
choose which retrieved chunks are scored live with the trace they cut
(`qrag_pipeline.retrieval.trace`).

Conventions where docs/benchmarks.md is silent:
- An episode whose supporting chunks are unknown (empty `support`, as in the Hugging
  Face BabiLong sets) has NaN fact scores, and `aggregate` skips NaNs, so such episodes
  neither help nor hurt a fact mean; they still count for answer accuracy.
- An empty retrieval (the learned stop may stop before the first step) has precision
  0, not NaN: stopping without retrieving anything is a failure to find the facts, and
  a NaN would drop exactly those episodes from the precision mean.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from numbers import Real

import numpy as np

from qrag_pipeline.episodes import Episode


@dataclass(frozen=True)
class FactScores:
    """Supporting-fact EM, precision, recall, F1 of one retrieval (NaN if unknown)."""

    em: float
    precision: float
    recall: float
    f1: float

    def as_row(self, stop: str) -> dict[str, float]:
        """Columns named after the metric and the stop rule, e.g. `fact_f1@oracle`.

        The stop rule is part of the name because the same F1 means different things
        after T fixed steps, with the learned stop and with the oracle stop.
        """
        return {f"fact_{name}@{stop}": value for name, value in asdict(self).items()}


def fact_scores(support: Sequence[int], retrieved: Sequence[int]) -> FactScores:
    """Fact EM, precision, recall and F1 of `retrieved` against the supporting chunks.

    Fact EM is 1 when every supporting chunk was retrieved (extra chunks allowed, so
    EM@T of T retrieved chunks is "all found among T"). Precision and recall compare
    the sets of chunk indices, so order and repeats do not matter. Unknown support
    (empty) gives NaN everywhere; an empty retrieval against known support gives 0s.
    """
    gold = set(support)
    if not gold:
        return FactScores(math.nan, math.nan, math.nan, math.nan)
    found = set(retrieved)
    hits = len(gold & found)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(gold)
    return FactScores(
        em=float(hits == len(gold)),
        precision=precision,
        recall=recall,
        f1=_harmonic_mean(precision, recall),
    )


def _harmonic_mean(precision: float, recall: float) -> float:
    """F1; 0 when both are 0 (nothing right), where the formula would divide by 0."""
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def _strip_punctuation(text: str) -> str:
    return "".join(char for char in text if char not in _PUNCTUATION)


def babi_answer_correct(prediction: str, answer: str) -> bool:
    """bAbI answer accuracy: exact match of the one-word answer.

    Case and punctuation are ignored ("Kitchen." matches "kitchen"); nothing else is,
    so "the kitchen" is wrong: a reader must give the word itself.
    """
    return _babi_form(prediction) == _babi_form(answer)


def _babi_form(text: str) -> str:
    return " ".join(_strip_punctuation(text.lower()).split())


def squad_normalize(text: str) -> str:
    """SQuAD-style answer normalisation, the input of `squad_exact_match` and `squad_f1`.

    Lower case, delete ASCII punctuation (without a space: "don't" becomes "dont"),
    drop the articles a/an/the as whole words, and collapse whitespace.
    """
    without_punctuation = _strip_punctuation(text.lower())
    return " ".join(_ARTICLES.sub(" ", without_punctuation).split())


def squad_exact_match(prediction: str, gold: str) -> float:
    """HotpotQA answer EM (SQuAD style): 1.0 if the normalised answers are equal."""
    return float(squad_normalize(prediction) == squad_normalize(gold))


# Answers that are labels, not spans: the official HotpotQA script gives F1 0 to any
# mismatch involving one, so "yes it is" earns no partial credit against "yes".
_LABEL_ANSWERS = frozenset({"yes", "no", "noanswer"})


def squad_f1(prediction: str, gold: str) -> float:
    """HotpotQA answer F1 (SQuAD style): token-overlap F1 of the normalised answers.

    Tokens are counted with multiplicity. As in the official HotpotQA evaluation, F1 is
    0.0 when either normalised side is yes, no or noanswer and the two differ. If
    either side normalises to nothing (an answer that is only an article, say), F1 is
    1.0 when both do and 0.0 otherwise.
    """
    predicted, expected = squad_normalize(prediction), squad_normalize(gold)
    if predicted != expected and {predicted, expected} & _LABEL_ANSWERS:
        return 0.0
    predicted_tokens, gold_tokens = predicted.split(), expected.split()
    if not predicted_tokens or not gold_tokens:
        return float(predicted_tokens == gold_tokens)
    common = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    return _harmonic_mean(common / len(predicted_tokens), common / len(gold_tokens))


NIAH_ANSWER_SEPARATOR = ", "
"""What separates the gold values in a RULER episode's answer (`builders/ruler.py`)."""


def niah_values_found(episode: Episode, retrieved: Sequence[int]) -> float:
    """RULER's score: the fraction of gold values written in the retrieved chunks.

    It reads the text, not the indices, so a chunk that repeats a needle counts as
    well as the needle itself, as it would for a reader.
    """
    return niah_values_in(episode, "\n".join(episode.chunks[i] for i in retrieved))


def niah_values_in(episode: Episode, text: str) -> float:
    """The fraction of the episode's gold values that `text` contains: the score of
    retrieved chunks and of a reader's answer alike.

    A value counts when it occurs anywhere in `text` (a case-sensitive substring
    test, so a number inside a longer one counts too).
    """
    gold = episode.answer.split(NIAH_ANSWER_SEPARATOR)
    return sum(value in text for value in gold) / len(gold)


def niah_all_found(episode: Episode, retrieved: Sequence[int]) -> float:
    """RULER's all-or-nothing score: 1.0 when all gold values were retrieved, else 0.0."""
    return float(niah_values_found(episode, retrieved) == 1.0)


_NUMBERS = (Real, np.bool_)  # numpy's bool is no `Real`, but pandas rows yield it


@dataclass(frozen=True)
class MetricSummary:
    """A metric's mean over episodes, with the numbers of values used and NaNs."""

    mean: float
    count: int
    skipped: int


def aggregate(rows: Iterable[Mapping[str, object]]) -> dict[str, MetricSummary]:
    """Per-column means over episode rows, skipping NaN (unknown) values.

    Only real numbers (bools count as 0/1) are averaged; text columns such as ids and
    missing values (None) are ignored. `count` is the number of values averaged and
    `skipped` the number of NaNs; a column of only NaNs has mean NaN and count 0.
    Keys keep the order in which they first appear.
    """
    values: dict[str, list[float]] = {}
    skipped: Counter[str] = Counter()
    for row in rows:
        for key, value in row.items():
            if not isinstance(value, _NUMBERS):
                continue
            number = float(value)
            values.setdefault(key, [])
            if math.isnan(number):
                skipped[key] += 1
            else:
                values[key].append(number)
    return {
        key: MetricSummary(
            mean=math.fsum(numbers) / len(numbers) if numbers else math.nan,
            count=len(numbers),
            skipped=skipped[key],
        )
        for key, numbers in values.items()
    }
