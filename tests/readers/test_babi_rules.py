"""Tests of the rule-based bAbI reader against the official bAbI v1.2 files.

The reader is the oracle for generated stories and the answer step after retrieval,
so it must reproduce the official answers and supporting facts, not just plausible
ones: every question of every real file is checked, with the full story, with only
the gold supporting facts, and with unrelated sentences mixed in.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from pathlib import Path

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.readers.babi_rules import (
    Give,
    RuleAnswer,
    answer_babi_question,
    parse_sentence,
)
from qrag_pipeline.sources.babi_files import (
    BabiSample,
    babi_file,
    parse_babi_file,
)

TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")
REAL_FILES = [
    (folder, task, split)
    for folder in ("en", "en-10k")
    for task in TASKS
    for split in ("train", "test")
    if (folder, task, split) != ("en-10k", "qa3", "train")  # not in shared/data
]

# Official qa5 labels that contradict the story: "What did A give to B?" asked after
# A gave B two different things, answered (and supported) with the earlier gift,
# while 11 of 13 such questions in each en file and 108 of 128 in en-10k train take
# the latest. The en test story with `BabiSample.story == 62` even asks "What did Bill
# give to Mary?" twice with no give in between: "football" (line 27), then "apple"
# (line 30). No rule over the
# text can match both, so these are counted exactly instead. (The first 1000 en-10k
# train questions are the en train file, so its 2 are among the 20.)
INCONSISTENT_QA5 = {
    ("en", "train"): 2,
    ("en", "test"): 2,
    ("en-10k", "train"): 20,
    ("en-10k", "test"): 2,
}

DISTRACTORS = (
    "It was a dark and stormy night.",
    "Mr. Darcy went to the ball.",
    "Mary went to the kitchen and then to the garden.",
    "The kitchen was north of the garden, or so she said.",
    "Where is the football?",
    "He left the saucepan.",
)


@cache
def _samples(babi: Path, folder: str, task: str, split: str) -> list[BabiSample]:
    """Each file is parsed once for all tests that read it."""
    return parse_babi_file(babi_file(babi / folder, task, split), task)


def _mismatches(samples: list[BabiSample], task: str) -> list[tuple[BabiSample, RuleAnswer]]:
    """Questions where the full-story answer or support set differs from the label."""
    results = ((s, answer_babi_question(task, s.facts, s.question)) for s in samples)
    return [
        (sample, result)
        for sample, result in results
        if result.answer != sample.answer or set(result.support) != set(sample.support)
    ]


def _is_superseded_gift(sample: BabiSample, result: RuleAnswer) -> bool:
    """The known qa5 label error: the reader took A's later, different gift to B."""
    match = re.fullmatch(r"What did (\w+) give to (\w+)\?", sample.question)
    if match is None or len(result.support) != 1:
        return False
    official = parse_sentence(sample.facts[sample.support[0]])
    latest = parse_sentence(sample.facts[result.support[0]])
    pair = match.groups()
    return (
        isinstance(official, Give)
        and isinstance(latest, Give)
        and (official.giver, official.receiver) == pair
        and (latest.giver, latest.receiver) == pair
        and official.thing == sample.answer != latest.thing == result.answer
        and result.support[0] > sample.support[0]
    )


@pytest.mark.shared_data
@pytest.mark.parametrize(("folder", "task", "split"), REAL_FILES)
def test_full_story_gives_official_answer_and_support(
    shared_data: Path, folder: str, task: str, split: str
) -> None:
    """The reader is an oracle only if it reproduces every official label."""
    samples = _samples(shared_data / "babi", folder, task, split)
    mismatched = _mismatches(samples, task)

    expected = INCONSISTENT_QA5.get((folder, split), 0) if task == "qa5" else 0
    unexplained = [pair for pair in mismatched if not _is_superseded_gift(*pair)]
    assert unexplained == [], f"{len(unexplained)} of {len(samples)} differ"
    assert len(mismatched) == expected


@pytest.mark.shared_data
def test_full_story_on_qa3_validation_file(shared_data: Path) -> None:
    """en-10k qa3 train is missing; its validation split stands in for it."""
    samples = parse_babi_file(shared_data / "babi" / "en-valid-10k" / "qa3_valid.txt")
    assert len(samples) == 1000
    assert _mismatches(samples, "qa3") == []


@pytest.mark.shared_data
@pytest.mark.parametrize(("folder", "task", "split"), REAL_FILES)
def test_every_official_fact_is_recognised(shared_data: Path, folder: str, task: str, split: str) -> None:
    """A fact the reader skipped would silently change answers: none may be skipped."""
    samples = _samples(shared_data / "babi", folder, task, split)
    facts = {fact for sample in samples for fact in sample.facts}
    assert [fact for fact in facts if parse_sentence(fact) is None] == []


@pytest.mark.shared_data
@pytest.mark.parametrize(("folder", "task", "split"), REAL_FILES)
def test_gold_facts_alone_give_official_answer(shared_data: Path, folder: str, task: str, split: str) -> None:
    """A perfect retriever returns just the gold facts: they suffice, and all count.

    This needs the reader's leniency: the gold facts of a drop omit the pick-up.
    """
    samples = _samples(shared_data / "babi", folder, task, split)
    wrong = []
    for sample in samples:
        gold = [sample.facts[i] for i in sorted(sample.support)]
        result = answer_babi_question(task, gold, sample.question)
        if result != RuleAnswer(sample.answer, tuple(range(len(gold)))):
            wrong.append((sample.question, sample.answer, gold, result))
    assert wrong == []


def _book_sentences(shared_data: Path, count: int) -> list[str]:
    """Real novel sentences, as BabiLong mixes into its documents."""
    book = shared_data / "books" / "test" / "pg1342_pride_and_prejudice_austen.txt.gz"
    if not book.is_file():
        pytest.skip(f"book {book} is absent: the distractor test reads real book text")
    with gzip.open(book, "rt", encoding="utf-8") as file:
        text = " ".join(file.read().split())
    return re.split(r"(?<=[.!?]) (?=[A-Z])", text)[1000 : 1000 + count]


def _interleave(facts: tuple[str, ...], noise: list[str]) -> tuple[list[str], list[int]]:
    """The facts with 0-3 noise sentences before each, and where each fact landed."""
    mixed: list[str] = []
    positions = []
    for index, fact in enumerate(facts):
        for step in range(index % 4):
            mixed.append(noise[(7 * index + step) % len(noise)])
        positions.append(len(mixed))
        mixed.append(fact)
    mixed.append(noise[len(facts) % len(noise)])
    return mixed, positions


@pytest.mark.shared_data
@pytest.mark.parametrize("task", TASKS)
def test_unrelated_sentences_are_ignored(shared_data: Path, task: str) -> None:
    """BabiLong hides the facts among book sentences; those must not change anything."""
    noise = list(DISTRACTORS) + _book_sentences(shared_data, 400)
    for sample in _samples(shared_data / "babi", "en", task, "test"):
        clean = answer_babi_question(task, sample.facts, sample.question)
        mixed, positions = _interleave(sample.facts, noise)
        noisy = answer_babi_question(task, mixed, sample.question)
        shifted = tuple(positions[i] for i in clean.support)
        assert noisy == RuleAnswer(clean.answer, shifted), sample.question


@pytest.mark.parametrize(
    ("task", "sentences", "question", "expected"),
    [
        ("qa1", ["John went to the kitchen."], "Where is Mary?", RuleAnswer(None, ())),
        ("qa2", ["John went to the hall."], "Where is the milk?", RuleAnswer(None, ())),
        (
            "qa2",
            ["Mary got the milk.", "John went to the bath.", "Mary moved to the hall."],
            "Where is the milk?",
            RuleAnswer("hall", (0, 2)),
        ),
        (
            "qa2",
            ["Mary went to the hall.", "Mary left the milk.", "Mary went to the den."],
            "Where is the milk?",
            RuleAnswer("hall", (0, 1)),
        ),
        (
            "qa2",
            ["Fred went to the den.", "Bill gave the milk to Fred."],
            "Where is the milk?",
            RuleAnswer("den", (0, 1)),
        ),
        (
            "qa3",
            ["Mary went to the hall.", "Mary went to the bath.", "Mary left the milk."],
            "Where was the milk before the bath?",
            RuleAnswer("hall", (0, 1, 2)),
        ),
        (
            "qa3",
            ["Mary went to the hall.", "Mary left the milk."],
            "Where was the milk before the hall?",
            RuleAnswer(None, ()),
        ),
        (
            "qa4",
            ["The bedroom is west of the bathroom."],
            "What is the bathroom east of?",
            RuleAnswer("bedroom", (0,)),
        ),
        (
            "qa4",
            ["The bedroom is west of the bathroom."],
            "What is east of the bedroom?",
            RuleAnswer("bathroom", (0,)),
        ),
        (
            "qa4",
            ["The bedroom is west of the bathroom."],
            "What is north of the bedroom?",
            RuleAnswer(None, ()),
        ),
        (
            "qa5",
            ["Fred gave the milk to Bill.", "Bill handed the milk to Jeff."],
            "Who gave the milk to Bill?",
            RuleAnswer("Fred", (0,)),
        ),
        (
            "qa5",
            ["Fred gave the milk to Bill.", "Bill handed the milk to Jeff."],
            "Who received the milk?",
            RuleAnswer("Jeff", (1,)),
        ),
        (
            "qa5",
            ["Fred gave the milk to Bill.", "Bill passed the apple to Fred."],
            "Who did Fred give the milk to?",
            RuleAnswer("Bill", (0,)),
        ),
        (
            "qa5",
            ["Fred gave the milk to Bill."],
            "Who gave the apple?",
            RuleAnswer(None, ()),
        ),
    ],
)
def test_hand_written_cases(task: str, sentences: list[str], question: str, expected: RuleAnswer) -> None:
    """Edge cases the official files lack: unknown entities, partial stories, gives."""
    assert answer_babi_question(task, sentences, question) == expected


def test_unknown_task_is_refused_with_the_valid_ones() -> None:
    """The message must let the user fix the task name."""
    valid = r"'qa1', 'qa2', 'qa3', 'qa4', 'qa5'"
    with pytest.raises(QragInputError, match=rf"'qa6'.*{valid}"):
        answer_babi_question("qa6", ["Mary went to the kitchen."], "Where is Mary?")


@pytest.mark.parametrize(
    ("task", "question"),
    [("qa1", "Why is Mary in the kitchen?"), ("qa5", "Where is Mary?")],
)
def test_unknown_question_form_is_refused(task: str, question: str) -> None:
    """An unparsed question must fail loudly, not pass as an undetermined answer."""
    with pytest.raises(QragInputError, match=re.escape(repr(question))):
        answer_babi_question(task, ["Mary went to the kitchen."], question)
