"""Book text as distractor sentences, the PG19-like background of BabiLong.

Project Gutenberg files come in several states: with the full licence header and
footer or stripped upstream, LF or CRLF, plain or gzipped, and some with mojibake
(UTF-8 decoded as Latin-1/cp1252 and saved again, "RostopchÃ\xadn" for "Rostopchín").
`read_book` turns each of them into clean text, `book_sentences` into the sentences
worth hiding a story in, and `load_books` does that for a folder. Training and test
distractors must never share a source, or a retriever could learn the test books;
`check_disjoint_sources` enforces it.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from pathlib import Path

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.sentences import split_sentences

BOOK_SUFFIXES = (".txt.gz", ".txt")

_NEWLINES = re.compile(r"\r\n?")
_GUTENBERG_START = re.compile(
    r"^\*{3} ?START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$"
    r"|^\*END\*THE SMALL PRINT.*$",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_END = re.compile(
    r"^\*{3} ?END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK"
    r"|^End of (?:the )?Project Gutenberg(?:'s|’s)? ",
    re.IGNORECASE | re.MULTILINE,
)
# Characters that a UTF-8 continuation byte (0x80-0xBF) turns into when it is wrongly
# decoded as Latin-1 or as Windows-1252 (which maps 0x80-0x9F to typographic marks).
_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_CONTINUATION = f"[\u0080-\u00bf{_CP1252_HIGH}]"
_MOJIBAKE = re.compile(
    f"[\u00c2-\u00df]{_CONTINUATION}|[\u00e0-\u00ef]{_CONTINUATION}{{2}}|[\u00f0-\u00f4]{_CONTINUATION}{{3}}"
)
# "à" is C3 A0 in UTF-8; mojibake shows it as "Ã" + no-break space, which later
# copies turned into a plain space or a line end.
_LOST_A_GRAVE = re.compile("\u00c3(?= |$)")

# Sentences that are book furniture rather than prose.
_HEADING = re.compile(
    r"\b(?:CHAPTER|Chapter|BOOK|Book|PART|Part|VOLUME|Volume|ACT|Act|SCENE|Scene"
    r"|STAVE|Stave|CANTO|Canto|EPILOGUE|Epilogue)\s+(?:[IVXLC]+|\d+)\b"
)
_FURNITURE = re.compile(
    r"^\[?(?:Illustration|Transcriber|Produced by|Footnote)"
    r"|Project Gutenberg|\be-?texts?\b",
    re.IGNORECASE,
)
_LOWERCASE = re.compile(r"[a-z]")
_SENTENCE_END = re.compile(r"[.!?…:—-][\"'’”»)\]_]*$")


def read_book(path: str | Path) -> str:
    """The text of a `.txt` or `.txt.gz` book: LF newlines, mojibake repaired, and the
    Project Gutenberg header and footer removed where present (files stripped
    upstream begin directly with the book, so nothing is assumed)."""
    path = Path(path)
    text = _NEWLINES.sub("\n", _decode(path, _read_bytes(path)))
    text = "\n".join(_repair_mojibake(line) for line in text.split("\n"))
    return _strip_gutenberg(text)


def _read_bytes(path: Path) -> bytes:
    """The raw bytes, gunzipped for `.gz`; unreadable files become input errors."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:
        raise QragInputError(
            f"cannot read book {str(path)!r}: {error}. Fix: give a readable .txt or "
            "gzip-compressed .txt.gz file."
        ) from error


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text without a byte-order mark; other encodings are refused rather than
    guessed, since a wrong guess would fill the distractors with garbage."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise QragInputError(
            f"book {str(path)!r} is not UTF-8 text ({error}). Fix: re-encode it as "
            "UTF-8 (e.g. `iconv -f cp1252 -t utf-8`)."
        ) from error


def _repair_mojibake(line: str) -> str:
    """`line` with double-encoded UTF-8 decoded once more, where that is valid.

    The repair is per byte sequence, not per line: a whole-line Latin-1 round trip
    fails on most damaged lines of War and Peace, whose real curly quotes have no
    Latin-1 byte. A sequence that is not valid UTF-8 is left as it is. A lone "Ã"
    before a space or the line end is an "à" that lost its no-break space (Ulysses,
    the French of War and Peace); English text has no other use for it.
    """
    if "\u00c3" in line:
        line = _LOST_A_GRAVE.sub("à", line)
    return _MOJIBAKE.sub(_redecode, line) if _MOJIBAKE.search(line) else line


def _redecode(match: re.Match[str]) -> str:
    """The character whose UTF-8 bytes the matched Latin-1/cp1252 text spells."""
    garbled = match.group()
    raw = bytes(ord(c) if ord(c) < 256 else c.encode("cp1252")[0] for c in garbled)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return garbled


def _strip_gutenberg(text: str) -> str:
    """The book between the Gutenberg START and END markers, each cut only if found."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def book_sentences(path: str | Path, min_words: int = 4, max_words: int = 60) -> list[str]:
    """The prose sentences of a book with `min_words` to `max_words` words.

    The bounds drop chapter headings, contents entries and speaker names (too short)
    and run-ons such as unpunctuated stream of consciousness (too long); lines that
    are book furniture (headings, illustrations, producer credits) are dropped too.
    """
    _check_bounds(min_words, max_words)
    return [
        sentence
        for sentence in split_sentences(read_book(path))
        if min_words <= len(sentence.split()) <= max_words and _is_prose(sentence)
    ]


def _check_bounds(min_words: int, max_words: int) -> None:
    """Refuse word bounds that no sentence can meet, before reading any book."""
    if not (isinstance(min_words, int) and isinstance(max_words, int)):
        raise QragInputError(
            f"min_words={min_words!r} and max_words={max_words!r} must be whole "
            "numbers. Fix: set them in data_prep.distractors."
        )
    if min_words < 1 or max_words < min_words:
        raise QragInputError(
            f"min_words={min_words} and max_words={max_words} admit no sentence. Fix: "
            "use 1 <= min_words <= max_words (default 4 and 60)."
        )


def _is_prose(sentence: str) -> bool:
    """Whether a sentence reads as running text: it has lowercase words, ends like a
    sentence and is no heading, contents entry, illustration caption or note about
    the edition (a few books mention Project Gutenberg inside their own text)."""
    return bool(
        _LOWERCASE.search(sentence)
        and _SENTENCE_END.search(sentence)
        and not _HEADING.search(sentence)
        and not _FURNITURE.search(sentence)
    )


def load_books(folder: str | Path, min_words: int = 4, max_words: int = 60) -> dict[str, list[str]]:
    """Every book in `folder` (`*.txt`, `*.txt.gz`, by file name): name -> sentences.

    The name is the file name without its suffix. Raises `QragInputError` for a
    missing or bookless folder and for a book that yields no sentence, so that a
    wrong path never silently becomes an episode without distractors.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise QragInputError(
            f"books folder {str(folder)!r} does not exist. Fix: point the parameter at "
            "a folder of .txt or .txt.gz books, or use the built-in prose "
            "(source: prose)."
        )
    books: dict[str, list[str]] = {}
    for path in _book_files(folder):
        name = _book_name(path)
        if name in books:
            raise QragInputError(
                f"books folder {str(folder)!r} holds book {name!r} twice (.txt and "
                ".txt.gz). Fix: keep one of the two files."
            )
        sentences = book_sentences(path, min_words, max_words)
        if not sentences:
            raise QragInputError(
                f"book {str(path)!r} yields no sentence of {min_words}-{max_words} "
                "words (empty, or only a Gutenberg header?). Fix: replace or remove it."
            )
        books[name] = sentences
    return books


def _book_files(folder: Path) -> list[Path]:
    """The folder's books sorted by file name, so that documents load in a stable
    order on every file system (and seeded sampling stays reproducible)."""
    files = sorted(path for path in folder.iterdir() if path.is_file() and path.name.endswith(BOOK_SUFFIXES))
    if not files:
        raise QragInputError(
            f"books folder {str(folder)!r} holds no .txt or .txt.gz file. Fix: add "
            "UTF-8 books (e.g. from Project Gutenberg) or point at another folder."
        )
    return files


def _book_name(path: Path) -> str:
    """The file name without `.txt` or `.txt.gz`."""
    return next(path.name[: -len(suffix)] for suffix in BOOK_SUFFIXES if path.name.endswith(suffix))


def check_disjoint_sources(
    train: Mapping[str, list[str]],
    test: Mapping[str, list[str]],
    max_shared_fraction: float = 0.01,
    min_sentence_words: int = 8,
) -> None:
    """Raise `QragInputError` unless training and test distractors share no source.

    A source is shared when a document name is on both sides, or when more than
    `max_shared_fraction` of the smaller side's distinct sentences of
    `min_sentence_words` words or more also occur on the other side (the same book
    under two names). Short sentences ("Yes, sir, I said.") recur across unrelated
    books and are not counted.
    """
    shared_names = sorted(set(train) & set(test))
    if shared_names:
        raise QragInputError(
            f"training and test distractors share the documents {shared_names[:5]}. "
            "Fix: use separate books (different folders, no common file) for each."
        )
    train_long, test_long = (
        _long_sentences(train, min_sentence_words),
        _long_sentences(test, min_sentence_words),
    )
    shared = train_long & test_long
    smaller = min(len(train_long), len(test_long))
    if shared and len(shared) > max_shared_fraction * smaller:
        raise QragInputError(
            f"training and test distractors share {len(shared)} of {smaller} "
            f"sentences of {min_sentence_words}+ words (e.g. {sorted(shared)[0]!r}), "
            "so one book is on both sides under different names. Fix: remove it from "
            "one folder."
        )


def _long_sentences(documents: Mapping[str, list[str]], min_sentence_words: int) -> set[str]:
    """The distinct sentences long enough to identify their book."""
    return {
        sentence
        for sentences in documents.values()
        for sentence in sentences
        if len(sentence.split()) >= min_sentence_words
    }
