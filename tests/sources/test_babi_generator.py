"""Tests of the seeded bAbI story generator (qa1-qa5).

Generated stories must work like the official ones for everything downstream, so they
are checked three ways: an independent reader (the rule-based simulation in
`readers.babi_rules`) recomputes every answer and supporting-fact set; statistics and
vocabulary are compared with the official test files; and the files' own format
round-trips through the official parser.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.readers.babi_rules import answer_babi_question
from qrag_pipeline.sources.babi_files import (
    BabiSample,
    babi_file,
    parse_babi_file,
)
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.babi_vocabulary import VOCABULARIES

TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")
N_STORIES = 300
SEED = 20240601
QUESTIONS_PER_STORY = {"qa1": 5, "qa2": 5, "qa3": 5, "qa4": 1, "qa5": 5}

# Tolerances against the official test file (1000 questions per task). This generator
# is within 9% (facts before a question), 5% (support distance) and 0.06 (answer
# total variation) of it on every task. Measured sloppy variants fail: asking about
# any answerable thing, not only one of the last five facts, gives qa3 33% fewer
# facts and qa5 a 40% longer distance; equally likely qa5 question forms give an
# answer total variation of 0.13.
FACTS_BEFORE_QUESTION_REL_TOL = 0.15
SUPPORT_DISTANCE_REL_TOL = 0.25
ANSWER_TOTAL_VARIATION_MAX = 0.12

_NAME = re.compile(r"\b(?!The\b|What\b|Where\b|Who\b)[A-Z][a-z]+\b")
_NOUN = re.compile(r"\b([Tt]he) ([a-z]+)\b")


@cache
def _generated(task: str, vocabulary: str = "official") -> tuple[BabiSample, ...]:
    return tuple(generate_babi_samples(task, N_STORIES, SEED, vocabulary))


@cache
def _official(folder: Path, task: str) -> tuple[BabiSample, ...]:
    return tuple(parse_babi_file(babi_file(folder, task, "test"), task))


def _stories(samples: tuple[BabiSample, ...]) -> dict[int, list[BabiSample]]:
    stories: dict[int, list[BabiSample]] = {}
    for sample in samples:
        stories.setdefault(sample.story, []).append(sample)
    return stories


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _facts_before_question(samples: tuple[BabiSample, ...]) -> float:
    return _mean([len(s.facts) for s in samples])


def _support_distance(samples: tuple[BabiSample, ...]) -> float:
    """Mean of question position minus the earliest supporting fact's index."""
    return _mean([len(s.facts) - min(s.support) for s in samples])


def _total_variation(a: Counter[str], b: Counter[str]) -> float:
    total_a, total_b = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[k] / total_a - b[k] / total_b) for k in a.keys() | b.keys())


def _template(text: str) -> str:
    """The sentence with names as P and the nouns after "the" as X."""
    return _NAME.sub("P", _NOUN.sub(r"\1 X", text))


def _vocabulary(samples: tuple[BabiSample, ...]) -> dict[str, set[str]]:
    """Templates, names and nouns of every full story and question."""
    facts = [fact for story in _stories(samples).values() for fact in story[-1].facts]
    questions = [s.question for s in samples]
    texts = facts + questions
    return {
        "fact templates": {_template(f) for f in facts},
        "question templates": {_template(q) for q in questions},
        "names": {name for text in texts for name in _NAME.findall(text)},
        "nouns": {noun for text in texts for _, noun in _NOUN.findall(text)},
        "answers": {s.answer for s in samples},
    }


def _official_format(samples: tuple[BabiSample, ...]) -> str:
    """The samples written as an official file: numbered lines, questions inside."""
    lines = []
    for story in _stories(samples).values():
        line_of_fact: list[int] = []
        number = 0
        for sample in story:
            for fact in sample.facts[len(line_of_fact) :]:
                number += 1
                line_of_fact.append(number)
                lines.append(f"{number} {fact}")
            number += 1
            ids = " ".join(str(line_of_fact[i]) for i in sample.support)
            lines.append(f"{number} {sample.question}\t{sample.answer}\t{ids}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
@pytest.mark.parametrize("task", TASKS)
def test_rule_reader_recomputes_every_answer_and_support(task: str, vocabulary: str) -> None:
    samples = _generated(task, vocabulary)
    assert len(samples) == N_STORIES * QUESTIONS_PER_STORY[task]
    mismatches = []
    for sample in samples:
        assert all(0 <= i < len(sample.facts) for i in sample.support)
        ruled = answer_babi_question(task, sample.facts, sample.question)
        expected = (sample.answer, tuple(sorted(sample.support)))
        if (ruled.answer, ruled.support) != expected:
            mismatches.append((sample.question, sample.answer, sample.support, ruled))
    assert not mismatches, f"{len(mismatches)}/{len(samples)} differ: {mismatches[:3]}"


@pytest.mark.shared_data
@pytest.mark.parametrize("task", TASKS)
def test_statistics_are_close_to_the_official_test_file(task: str, shared_data: Path) -> None:
    generated, official = _generated(task), _official(shared_data / "babi" / "en", task)

    facts = _facts_before_question(generated)
    official_facts = _facts_before_question(official)
    assert abs(facts / official_facts - 1) <= FACTS_BEFORE_QUESTION_REL_TOL, (
        facts,
        official_facts,
    )
    distance = _support_distance(generated)
    official_distance = _support_distance(official)
    assert abs(distance / official_distance - 1) <= SUPPORT_DISTANCE_REL_TOL, (
        distance,
        official_distance,
    )
    answers = Counter(s.answer for s in generated)
    official_answers = Counter(s.answer for s in official)
    assert official_answers.keys() <= answers.keys()
    assert _total_variation(answers, official_answers) <= ANSWER_TOTAL_VARIATION_MAX
    assert {len(s.support) for s in generated} == {len(s.support) for s in official}


@pytest.mark.shared_data
@pytest.mark.parametrize("task", TASKS)
def test_vocabulary_and_templates_equal_the_official_ones(task: str, shared_data: Path) -> None:
    generated = _vocabulary(_generated(task))
    official = _vocabulary(_official(shared_data / "babi" / "en", task))
    for kind, words in official.items():
        assert generated[kind] == words, (kind, generated[kind] ^ words)


@pytest.mark.parametrize("task", TASKS)
def test_varied_stories_use_words_beyond_the_official_ones_in_the_same_templates(task: str) -> None:
    official, varied = _vocabulary(_generated(task)), _vocabulary(_generated(task, "varied"))
    if task != "qa4":  # qa4 has rooms and directions only
        assert varied["fact templates"] - official["fact templates"]  # more verbs
        assert len(varied["names"] - official["names"]) >= 20
    assert varied["question templates"] == official["question templates"]
    assert len(varied["nouns"] - official["nouns"]) >= 15
    # the same story shapes: as many facts before a question, about
    facts, varied_facts = (_facts_before_question(_generated(task, v)) for v in VOCABULARIES)
    assert abs(varied_facts / facts - 1) <= FACTS_BEFORE_QUESTION_REL_TOL


@pytest.mark.parametrize("task", TASKS)
def test_stories_go_on_after_questions_in_rounds_of_two(task: str) -> None:
    stories = _stories(_generated(task))
    assert sorted(stories) == list(range(N_STORIES))
    for story in stories.values():
        assert len(story) == QUESTIONS_PER_STORY[task]
        counts = [0] + [len(s.facts) for s in story]
        assert all(b > a and (b - a) % 2 == 0 for a, b in pairwise(counts))
        assert all(s.facts[: len(p.facts)] == p.facts for p, s in pairwise(story))


@pytest.mark.parametrize("task", TASKS)
def test_official_file_format_round_trips(task: str, tmp_path: Path) -> None:
    samples = _generated(task)[:100]
    path = tmp_path / f"{task}_generated_test.txt"
    path.write_text(_official_format(samples), encoding="utf-8")
    assert tuple(parse_babi_file(path)) == samples


def test_same_seed_same_stories_whatever_the_global_random_state() -> None:
    random.seed(1)
    first = generate_babi_samples("qa3", 20, seed=7)
    random.seed(2)
    random.random()
    assert generate_babi_samples("qa3", 20, seed=7) == first
    assert generate_babi_samples("qa3", 20, seed=8) != first
    assert generate_babi_samples("qa3", 10, seed=7) == first[: len(first) // 2]


@pytest.mark.parametrize("task", ["qa6", "QA1", ""])
def test_unknown_task_is_refused(task: str) -> None:
    with pytest.raises(QragInputError, match="qa1"):
        generate_babi_samples(task, 5, seed=0)


@pytest.mark.parametrize("n_stories", [0, -3, 2.5, True])
def test_bad_story_count_names_the_parameter_and_the_fix(n_stories: object) -> None:
    with pytest.raises(QragInputError, match=r"n_stories.*Fix"):
        generate_babi_samples("qa1", n_stories, seed=0)  # type: ignore[arg-type]
