"""A rule-based English sentence splitter for book text and user documents.

One chunk is one sentence everywhere in the pipeline, so the splitter decides what
the retriever can see. It is plain rules rather than nltk or spaCy so that it needs
no model download, runs the same on every machine and stays fast (linear time) on
the multi-megabyte single-paragraph inputs of the Hugging Face BabiLong sets.

Rules: line breaks inside a paragraph are hard wraps and are joined; a blank line is
a paragraph break and always ends a sentence; inside a paragraph a sentence ends at
`.`, `!`, `?` or `…` (with any closing quotes or brackets after them) followed by
whitespace and then a capital letter, a digit or an opening quote or bracket, unless
the word before a single period is a known abbreviation (Mr., Dr., St., e.g.) or an
initial (the "J." and "M." of "J. M. Barrie").
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n?")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WHITESPACE = re.compile(r"\s+")
# A run of sentence-final marks and the closing quotes/brackets that belong with it,
# before the space that separates it from the next sentence. Matching only from the
# start of a run keeps long runs ("......") linear instead of quadratic.
_CANDIDATE_END = re.compile(r"(?<![.!?…])[.!?…]+[\"'’”»)\]]*(?= )")
_OPENERS = "\"'‘“«(["
# Titles and other words whose period never ends a sentence before a capital.
_ABBREVIATIONS = frozenset(
    """mr mrs ms messrs mme mlle dr drs prof rev revd hon st ste mt capt col gen lt
    sgt maj adm cmdr gov supt insp esq jr sr bros co corp inc ltd vs viz cf e.g i.e
    approx dept""".split()
)
# Abbreviations that end a sentence on their own ("No.") unless a number follows.
_NUMBER_ABBREVIATIONS = frozenset("no nos vol vols ch chap pp art fig figs op".split())
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, in order, whitespace-normalised, empty ones dropped.

    Never raises on odd input (any string, including an empty one, gives a list):
    the same function reads curated books, arbitrary user documents and the official
    BabiLong inputs.
    """
    text = _LINE_BREAK.sub("\n", text)
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        sentences.extend(_split_paragraph(_WHITESPACE.sub(" ", paragraph).strip()))
    return sentences


def _split_paragraph(paragraph: str) -> list[str]:
    """Split one whitespace-normalised paragraph at its sentence boundaries."""
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE_END.finditer(paragraph):
        if _is_boundary(paragraph, match):
            sentences.append(paragraph[start : match.end()])
            start = match.end() + 1
    if start < len(paragraph):
        sentences.append(paragraph[start:])
    return sentences


def _is_boundary(paragraph: str, match: re.Match[str]) -> bool:
    """Whether a candidate end is followed by a sentence opening (a capital, digit or
    opening quote after the space) and does not close an abbreviation."""
    first = paragraph[match.end() + 1 : match.end() + 2]
    opens = bool(first) and (first in _OPENERS or first.isupper() or first.isdigit())
    return opens and not _is_abbreviation(paragraph, match)


def _is_abbreviation(paragraph: str, match: re.Match[str]) -> bool:
    """Whether a lone period closes an abbreviation or initial rather than a sentence.

    Only a bare "." qualifies: "!" and "?" always end a sentence, and a period with a
    closing quote after it ends the quoted sentence. Initials must be capitals, so
    that a sentence ending in a one-letter word is not glued to the next.
    """
    if match.group() != ".":
        return False
    word_start = paragraph.rfind(" ", 0, match.start()) + 1
    word = paragraph[word_start : match.start()].lstrip(_OPENERS)
    lowered = word.lower()
    if lowered in _ABBREVIATIONS or (word.isupper() and _INITIALS.fullmatch(word)):
        return True
    next_char = paragraph[match.end() + 1 : match.end() + 2]
    return lowered in _NUMBER_ABBREVIATIONS and next_char.isdigit()
