"""Book loading on every real Project Gutenberg book, and on broken folders and files.

The 23 real books cover the states a user's books come in: full Gutenberg header and
footer (old "THIS" and new "THE" wording), stripped upstream, CRLF line ends, and
double-encoded UTF-8 (War and Peace, Ulysses). See ../shared/data/PROVENANCE.md.
"""

from __future__ import annotations

import gzip
import re
import statistics
from pathlib import Path

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.books import (
    book_sentences,
    check_disjoint_sources,
    load_books,
    read_book,
)

BOILERPLATE = re.compile(r"Project Gutenberg|\*\*\* ?START|\*\*\* ?END|gutenberg\.org", re.I)
MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac")
# Sentences per book that a working splitter must reach: the smallest real books
# (Alice, the two plays) give about 1,300-1,800, the largest 20,000 and more.
MIN_SENTENCES_PER_BOOK = 1_000
MIN_SENTENCES_LARGE_BOOK = {
    "pg1184_count_of_monte_cristo_dumas": 18_000,
    "pg2600_war_and_peace_tolstoy": 22_000,
    "pg28054_brothers_karamazov_dostoyevsky": 18_000,
    "pg4300_ulysses_joyce": 13_000,
}


@pytest.fixture(scope="module")
def books(shared_data: Path) -> dict[str, dict[str, list[str]]]:
    """Both real folders, loaded once: split -> book name -> sentences."""
    return {split: load_books(shared_data / "books" / split) for split in ("train", "test")}


def _book_paths(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "books").glob("*/*.txt.gz"))


def _head(path: Path) -> bytes:
    with gzip.open(path) as stream:
        return stream.read(5000)


@pytest.mark.shared_data
def test_every_real_book_loads_with_a_plausible_sentence_count(
    books: dict[str, dict[str, list[str]]],
) -> None:
    assert (len(books["train"]), len(books["test"])) == (18, 5)
    for name, sentences in {**books["train"], **books["test"]}.items():
        assert len(sentences) >= MIN_SENTENCES_LARGE_BOOK.get(name, MIN_SENTENCES_PER_BOOK), name
        median_words = statistics.median(len(s.split()) for s in sentences)
        assert 6 <= median_words <= 25, (name, median_words)


@pytest.mark.shared_data
def test_no_gutenberg_boilerplate_is_left_in_any_sentence(
    books: dict[str, dict[str, list[str]]],
) -> None:
    for documents in books.values():
        for name, sentences in documents.items():
            leftovers = [s for s in sentences if BOILERPLATE.search(s)]
            assert leftovers == [], (name, leftovers[:3])


@pytest.mark.shared_data
def test_header_and_footer_are_cut_only_where_present(shared_data: Path) -> None:
    pride = read_book(shared_data / "books/test/pg1342_pride_and_prejudice_austen.txt.gz")
    assert "It is a truth universally acknowledged" in pride
    assert not BOILERPLATE.search(pride)
    assert "the means of uniting them." in pride[-1000:]  # the novel's last line is kept
    alice = read_book(shared_data / "books/train/pg11_alice_in_wonderland_carroll.txt.gz")
    assert alice.lstrip().startswith("Alice was beginning to get very tired")
    assert alice.rstrip().endswith("the happy summer days.")


@pytest.mark.shared_data
def test_old_style_gutenberg_footer_is_cut(shared_data: Path) -> None:
    war = read_book(shared_data / "books/test/pg2600_war_and_peace_tolstoy.txt.gz")
    assert "End of the Project Gutenberg EBook" not in war
    assert "FULL LICENSE" not in war
    assert "Well, Prince, so Genoa and Lucca" in war[:10_000]
    assert war.rstrip().endswith("a dependence of which we are not conscious.")


@pytest.mark.shared_data
def test_crlf_books_give_no_carriage_returns(
    shared_data: Path, books: dict[str, dict[str, list[str]]]
) -> None:
    crlf = [p for p in _book_paths(shared_data) if b"\r\n" in _head(p)]
    assert len(crlf) == 7  # the books stripped upstream (PROVENANCE.md)
    for path in crlf:
        assert "\r" not in read_book(path), path
        name = path.name.removesuffix(".txt.gz")
        assert not any("\r" in s for s in books[path.parent.name][name]), path


@pytest.mark.shared_data
def test_war_and_peace_accents_are_repaired(
    books: dict[str, dict[str, list[str]]],
) -> None:
    sentences = books["test"]["pg2600_war_and_peace_tolstoy"]
    assert sum("Rostopchín" in s for s in sentences) >= 50
    assert any("Anna Pávlovna Schérer" in s for s in sentences)
    assert [s for s in sentences if MOJIBAKE.search(s)] == []


@pytest.mark.shared_data
def test_ulysses_mixed_lines_are_repaired(
    books: dict[str, dict[str, list[str]]],
) -> None:
    sentences = books["train"]["pg4300_ulysses_joyce"]
    assert any("Übermensch" in s for s in sentences)
    assert any("Félix Faure" in s for s in sentences)
    assert [s for s in sentences if MOJIBAKE.search(s)] == []


@pytest.mark.shared_data
def test_sentences_stay_within_the_word_bounds(
    shared_data: Path, books: dict[str, dict[str, list[str]]]
) -> None:
    for documents in books.values():
        for name, sentences in documents.items():
            lengths = [len(s.split()) for s in sentences]
            assert min(lengths) >= 4 and max(lengths) <= 60, name
    narrow = book_sentences(
        shared_data / "books/train/pg16_peter_pan_barrie.txt.gz",
        min_words=10,
        max_words=20,
    )
    assert len(narrow) > 500
    assert all(10 <= len(s.split()) <= 20 for s in narrow)


@pytest.mark.shared_data
def test_headings_and_contents_entries_are_dropped(
    books: dict[str, dict[str, list[str]]],
) -> None:
    heading = re.compile(r"\b(?:CHAPTER|Chapter|SCENE|Scene|ACT) [IVXLC\d]+\b")
    for documents in books.values():
        for name, sentences in documents.items():
            assert not [s for s in sentences if heading.search(s)], name
            assert not [s for s in sentences if s.isupper()], name


@pytest.mark.shared_data
def test_real_folders_are_disjoint_and_a_folder_is_not_disjoint_from_itself(
    books: dict[str, dict[str, list[str]]],
) -> None:
    check_disjoint_sources(books["train"], books["test"])
    with pytest.raises(QragInputError, match="share the documents"):
        check_disjoint_sources(books["test"], books["test"])
    renamed = {f"copy of {name}": sentences for name, sentences in books["test"].items()}
    with pytest.raises(QragInputError, match=r"share .* sentences"):
        check_disjoint_sources(books["test"], renamed)


def test_one_shared_book_under_another_name_is_caught() -> None:
    book = [f"This is the long sentence number {i} of the shared book." for i in range(100)]
    others = [f"Another book says something else in sentence {i} today." for i in range(900)]
    train = {"shared": book, "other": others}
    with pytest.raises(QragInputError, match="share 100 of 100"):
        check_disjoint_sources(train, {"renamed": book})


def test_a_few_common_sentences_are_tolerated() -> None:
    common = "I do not know what you mean by that, sir."
    train = {"a": [f"Sentence {i} of the first book is long enough here." for i in range(500)]}
    test = {"b": [f"Sentence {i} of the second book is long enough here." for i in range(500)]}
    check_disjoint_sources({"a": train["a"] + [common]}, {"b": test["b"] + [common, "Yes, sir, I said."]})


def _write_gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


HEADER = (
    "The Project Gutenberg eBook of A Test\r\n\r\n*** START OF THE PROJECT GUTENBERG EBOOK A TEST ***\r\n\r\n"
)
FOOTER = "\r\n\r\n*** END OF THE PROJECT GUTENBERG EBOOK A TEST ***\r\n\r\nLicence text here.\r\n"
BODY = (
    "CHAPTER I.\r\n\r\nThe ferry crossed the\r\nriver at dawn. The water was still and "
    "grey.\r\n\r\nIt was the first of many crossings that the old man made.\r\n"
)


def test_read_book_handles_plain_and_gzipped_crlf_files_with_header(
    tmp_path: Path,
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes((HEADER + BODY + FOOTER).encode("utf-8"))
    zipped = _write_gz(tmp_path / "zipped.txt.gz", HEADER + BODY + FOOTER)
    for path in (plain, zipped):
        text = read_book(path)
        assert "\r" not in text and "Gutenberg" not in text and "Licence" not in text
        assert book_sentences(path) == [
            "The ferry crossed the river at dawn.",
            "The water was still and grey.",
            "It was the first of many crossings that the old man made.",
        ]


def test_old_cr_line_ends_and_old_footer_wording_are_handled(tmp_path: Path) -> None:
    text = "*** START OF THIS PROJECT GUTENBERG EBOOK X ***\rOne two three four five.\r\r"
    text += "End of the Project Gutenberg EBook of X, by Y\r*** END OF THIS ***\r"
    path = tmp_path / "old.txt"
    path.write_text(text, encoding="utf-8", newline="")
    assert book_sentences(path) == ["One two three four five."]


def test_mojibake_is_repaired_where_valid_and_left_alone_elsewhere(
    tmp_path: Path,
) -> None:
    lines = [
        # curly quotes: no whole-line Latin-1 round trip
        "“Count RostopchÃ\xadn,” said Anna PÃ¡vlovna.",
        "An odd line: Ã( and â€ and \u00c3\u00ff stay as they are.",
        "Joyce: I'm the Ãœbermensch, bonne Ã",
        "Plain English with café and naïve.",
    ]
    path = tmp_path / "broken.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert read_book(path).split("\n") == [
        "“Count Rostopchín,” said Anna Pávlovna.",
        "An odd line: Ã( and â€ and \u00c3\u00ff stay as they are.",
        "Joyce: I'm the Übermensch, bonne à",
        "Plain English with café and naïve.",
    ]


def test_load_books_names_books_by_file_name_in_sorted_order(tmp_path: Path) -> None:
    _write_gz(tmp_path / "b_second.txt.gz", "The second book has one long sentence.")
    (tmp_path / "a_first.txt").write_text("The first book has one long sentence.")
    (tmp_path / "notes.md").write_text("Not a book, and ignored.")
    books = load_books(tmp_path)
    assert list(books) == ["a_first", "b_second"]
    assert books["a_first"] == ["The first book has one long sentence."]


def test_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    with pytest.raises(QragInputError, match=f"{re.escape(str(missing))}.*does not exist"):
        load_books(missing)


def test_folder_without_books_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("no books here")
    with pytest.raises(QragInputError, match=r"no \.txt or \.txt\.gz file"):
        load_books(tmp_path)


def test_a_book_with_only_a_header_is_an_input_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("The good book has one long sentence.")
    _write_gz(tmp_path / "header_only.txt.gz", HEADER + FOOTER)
    with pytest.raises(QragInputError, match=r"header_only\.txt\.gz.*yields no sentence"):
        load_books(tmp_path)


def test_the_same_book_as_txt_and_txt_gz_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "twice.txt").write_text("The book has one long sentence here.")
    _write_gz(tmp_path / "twice.txt.gz", "The book has one long sentence here.")
    with pytest.raises(QragInputError, match="twice"):
        load_books(tmp_path)


def test_unreadable_books_are_input_errors(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Caf\xe9 au lait is served here daily.".encode("latin-1"))
    with pytest.raises(QragInputError, match=r"latin1\.txt.*not UTF-8"):
        read_book(latin)
    fake = tmp_path / "fake.txt.gz"
    fake.write_bytes(b"not gzip at all")
    with pytest.raises(QragInputError, match=r"fake\.txt\.gz"):
        read_book(fake)


@pytest.mark.parametrize(("min_words", "max_words"), [(0, 10), (10, 5), (4.5, 60)])
def test_bad_word_bounds_are_input_errors(tmp_path: Path, min_words: float, max_words: int) -> None:
    path = tmp_path / "book.txt"
    path.write_text("The book has one long sentence here.")
    with pytest.raises(QragInputError, match="min_words"):
        book_sentences(path, min_words=min_words, max_words=max_words)  # type: ignore[arg-type]
