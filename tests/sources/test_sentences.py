"""The rule-based sentence splitter on hand-made cases of what books and users send."""

from __future__ import annotations

import pytest

from qrag_pipeline.sources.sentences import split_sentences


@pytest.mark.parametrize("text", ["", " ", "\n\n\n", "\r\n\r\n", "\t \xa0 \n"])
def test_empty_or_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_plain_sentences_split_at_periods_questions_and_exclamations() -> None:
    text = "It rained. Did it stop? No! It went on all night."
    assert split_sentences(text) == [
        "It rained.",
        "Did it stop?",
        "No!",
        "It went on all night.",
    ]


def test_repeated_and_mixed_marks_stay_with_their_sentence() -> None:
    text = "Really?! Yes... Then wait!! Fine."
    assert split_sentences(text) == ["Really?!", "Yes...", "Then wait!!", "Fine."]


def test_titles_and_common_abbreviations_do_not_end_a_sentence() -> None:
    text = (
        "Mr. Darling met Mrs. Darling and Dr. Seward near St. Paul's. "
        "They spoke of herbs, e.g. Thyme and sage, with Prof. Lind."
    )
    assert split_sentences(text) == [
        "Mr. Darling met Mrs. Darling and Dr. Seward near St. Paul's.",
        "They spoke of herbs, e.g. Thyme and sage, with Prof. Lind.",
    ]


def test_abbreviations_are_recognised_in_any_case_and_after_a_bracket() -> None:
    text = "The letter (MR. Pip's) arrived. It was short."
    assert split_sentences(text) == ["The letter (MR. Pip's) arrived.", "It was short."]


def test_initials_do_not_end_a_sentence() -> None:
    text = "Peter Pan is by J. M. Barrie. The U.S. Navy read it. So did F. Scott Key."
    assert split_sentences(text) == [
        "Peter Pan is by J. M. Barrie.",
        "The U.S. Navy read it.",
        "So did F. Scott Key.",
    ]


def test_number_abbreviations_hold_only_before_a_number() -> None:
    text = "They lived at No. 14 in the square. No. They did not."
    assert split_sentences(text) == [
        "They lived at No. 14 in the square.",
        "No.",
        "They did not.",
    ]


def test_closing_quotes_stay_with_the_sentence_they_close() -> None:
    text = "\"Oh, why can't you stay like this!\" This was all. 'Is it?' she asked."
    assert split_sentences(text) == [
        '"Oh, why can\'t you stay like this!"',
        "This was all.",
        "'Is it?' she asked.",
    ]


def test_curly_quotes_and_brackets_are_kept_attached() -> None:
    text = "“Well, Prince,” he said. “So it is.” (He smiled.) ‘Quite.’ Then he left."
    assert split_sentences(text) == [
        "“Well, Prince,” he said.",
        "“So it is.”",
        "(He smiled.)",
        "‘Quite.’",
        "Then he left.",
    ]


def test_a_quoted_exclamation_before_a_lowercase_word_does_not_split() -> None:
    text = '"Augrh!" said Father Wolf. "It is time to hunt."'
    assert split_sentences(text) == [
        '"Augrh!" said Father Wolf.',
        '"It is time to hunt."',
    ]


def test_a_period_before_a_lowercase_word_does_not_split() -> None:
    assert split_sentences("The fee was 3. fifty in all. Done.") == [
        "The fee was 3. fifty in all.",
        "Done.",
    ]


def test_a_digit_can_open_a_sentence() -> None:
    assert split_sentences("He left. 1805 was a hard year.") == [
        "He left.",
        "1805 was a hard year.",
    ]


def test_hard_wrapped_lines_are_joined_and_whitespace_normalised() -> None:
    text = (
        "Alice was beginning to get very tired\nof sitting by her  sister on the"
        "\r\nbank.\xa0 So she\tthought."
    )
    assert split_sentences(text) == [
        "Alice was beginning to get very tired of sitting by her sister on the bank.",
        "So she thought.",
    ]


def test_a_blank_line_always_ends_a_sentence() -> None:
    text = "CHAPTER I\n\nDown the Rabbit-Hole\n   \nit was late\r\n\r\nand dark"
    assert split_sentences(text) == [
        "CHAPTER I",
        "Down the Rabbit-Hole",
        "it was late",
        "and dark",
    ]


def test_old_mac_line_endings_are_line_breaks() -> None:
    assert split_sentences("One line\rtwo line.\r\rNew paragraph") == [
        "One line two line.",
        "New paragraph",
    ]


@pytest.mark.parametrize(
    "text",
    [
        ".",
        "...",
        "?!?! ?",
        "Mr.",
        " . . . ",
        "\x00\x1c\x85\u2028",
        "Ã\xad Ã© \ufffd",
        "a" * 10_000,
        ". A" * 1000,
        "." * 100_000,
        "?!" * 50_000 + " A",
        "x." + "\u201d" * 50_000 + " A",
        "\n" + " " * 100_000 + "x",
    ],
)
def test_odd_text_never_crashes_and_loses_no_characters(text: str) -> None:
    sentences = split_sentences(text)
    assert all(sentences)
    joined = "".join(text.split())
    assert "".join("".join(s.split()) for s in sentences) == joined


def test_a_long_single_paragraph_is_split_in_linear_time() -> None:
    text = " ".join(f"Sentence number {i} is here, said Mr. Smith." for i in range(50_000))
    sentences = split_sentences(text)
    assert len(sentences) == 50_000
    assert sentences[-1] == "Sentence number 49999 is here, said Mr. Smith."


def test_babi_facts_hidden_in_prose_come_out_as_their_own_sentences() -> None:
    text = (
        "The sun was low over the hills. Mary moved to the bathroom. It was late in "
        "the day. John went to the hallway. Sandra picked up the football there."
    )
    sentences = split_sentences(text)
    for fact in ("Mary moved to the bathroom.", "John went to the hallway."):
        assert fact in sentences
