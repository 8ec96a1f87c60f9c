"""The bAbI parser on every real file, and on malformed lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babi_files import BABI_TASKS, babi_file, parse_babi_file


def _real_files(shared: Path) -> list[Path]:
    return sorted((shared / "babi").glob("en*/qa*.txt"))


def _raw_questions(path: Path) -> list[tuple[str, str, list[str]]]:
    """(question, answer, supporting fact texts) read straight off the raw lines."""
    out, story = [], {}
    for line in path.read_text().splitlines():
        number, text = line.split(" ", 1)
        if number == "1":
            story = {}
        if "\t" in text:
            question, answer, ids = text.split("\t")
            out.append((question.strip(), answer, [story[i] for i in ids.split()]))
        else:
            story[number] = text
    return out


@pytest.mark.shared_data
def test_every_real_file_parses_to_its_questions_and_stories(shared_data: Path) -> None:
    files = _real_files(shared_data)
    assert len(files) == 20  # en: 10, en-10k: 9 (no qa3 train), en-valid-10k: 1
    for path in files:
        lines = path.read_text().splitlines()
        samples = parse_babi_file(path)
        assert len(samples) == sum("\t" in line for line in lines), path
        assert samples[-1].story + 1 == sum(line.startswith("1 ") for line in lines), path
        raw = _raw_questions(path)
        for sample, (question, answer, support_texts) in zip(samples, raw, strict=True):
            assert sample.question == question and sample.answer == answer
            assert [sample.facts[i] for i in sample.support] == support_texts, path
            assert all("\t" not in fact for fact in sample.facts)


@pytest.mark.shared_data
def test_qa1_answer_is_in_its_supporting_fact(shared_data: Path) -> None:
    for folder in ("en", "en-10k"):
        samples = parse_babi_file(babi_file(shared_data / "babi" / folder, "qa1", "test"))
        assert len(samples) == 1000
        for sample in samples:
            (index,) = sample.support
            assert sample.facts[index].rstrip(".").endswith(sample.answer)


@pytest.mark.shared_data
def test_story_goes_on_after_a_question(shared_data: Path) -> None:
    samples = parse_babi_file(babi_file(shared_data / "babi" / "en", "qa2", "test"))
    first_story = [s for s in samples if s.story == 0]
    assert len(first_story) == 5
    fact_counts = [len(s.facts) for s in first_story]
    assert fact_counts == sorted(fact_counts) and fact_counts[0] < fact_counts[-1]
    # later questions see every earlier fact, unchanged
    assert first_story[-1].facts[: fact_counts[0]] == first_story[0].facts


def test_question_mark_spacing_and_unsorted_ids(tmp_path: Path) -> None:
    path = tmp_path / "qa2_x_test.txt"
    path.write_text(
        "1 Mary got the milk there.\n2 Mary went to the hallway.\n"
        "3 Where is the milk? \thallway\t2 1\n4 John went to the kitchen.\n"
        "5 Where is John?\tkitchen\t4\n"
    )
    first, second = parse_babi_file(path)
    assert (first.task, first.question, first.support) == ("qa2", "Where is the milk?", (1, 0))
    assert second.question == "Where is John?" and second.support == (2,)
    assert second.facts[2] == "John went to the kitchen."


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Mary went home.\n", "expected `N text`"),
        ("1 Mary went to the hallway.\n3 John went to the garden.\n", "does not follow"),
        ("1 Mary went to the hallway.\n2 Where is Mary?\thallway\n", "tab-separated"),
        ("1 Mary went to the hallway.\n2 Where is Mary?\thallway\tone\n", "not whole numbers"),
        ("1 Mary went to the hallway.\n2 Where is Mary?\thallway\t7\n", "not fact lines"),
        ("1 Mary went to the hallway.\n2 Where is Mary?\thallway\t2\n", "not fact lines"),
        ("1 Mary went to the hallway.\n2 Where is Mary?\thallway\t\n", "no supporting"),
        ("1 Mary went to the hallway.\n", "no question lines"),
        ("", "no question lines"),
    ],
)
def test_malformed_lines_name_file_line_and_fix(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "qa1_bad_test.txt"
    path.write_text(content)
    with pytest.raises(QragInputError, match=expected) as error:
        parse_babi_file(path)
    assert str(path) in str(error.value) and "Fix:" in str(error.value)


def test_missing_folder_file_and_unknown_task(tmp_path: Path) -> None:
    with pytest.raises(QragInputError, match="does not exist"):
        babi_file(tmp_path / "nowhere", "qa1", "test")
    with pytest.raises(QragInputError, match="is not in"):
        babi_file(tmp_path, "qa1", "test")
    with pytest.raises(QragInputError, match="unknown bAbI task 'qa9'"):
        babi_file(tmp_path, "qa9", "test")
    with pytest.raises(QragInputError, match="unknown bAbI split"):
        babi_file(tmp_path, "qa1", "dev")
    assert set(BABI_TASKS) == {"qa1", "qa2", "qa3", "qa4", "qa5"}
