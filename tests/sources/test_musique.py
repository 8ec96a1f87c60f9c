"""The MuSiQue parser on the 100 real MuSiQue-Ans records and on bad records.

The real sample (../shared/data/PROVENANCE.md section 4) is read here independently
with json/gzip and compared with what the parser makes of it.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.musique import parse_musique_file

SAMPLE = "musique/musique_ans_v1.0_train.sample100.json.gz"

RAW = {
    "id": "2hop__1_2",
    "question": "Who founded the company that makes the Widget? ",
    "answer": "Ada",
    "answer_aliases": ["Ada L."],
    "answerable": True,
    "paragraphs": [
        {"idx": 0, "title": "Gadget", "paragraph_text": "A gadget  is a tool.", "is_supporting": False},
        {"idx": 1, "title": "Widget", "paragraph_text": "The Widget is made by Acme.", "is_supporting": True},
        {"idx": 2, "title": "Acme", "paragraph_text": "Acme was founded by Ada.", "is_supporting": True},
        {
            "idx": 3,
            "title": "Acme",
            "paragraph_text": "Acme is also a cartoon brand.",
            "is_supporting": False,
        },
    ],
    "question_decomposition": [
        {"id": 1, "question": "Who makes the Widget?", "answer": "Acme", "paragraph_support_idx": 1},
        {"id": 2, "question": "Who founded #1?", "answer": "Ada", "paragraph_support_idx": 2},
    ],
}


def _write(tmp_path: Path, records: list[Any], jsonl: bool = False) -> Path:
    path = tmp_path / ("records.jsonl" if jsonl else "records.json")
    text = "\n".join(json.dumps(r) for r in records) if jsonl else json.dumps(records)
    path.write_text(text)
    return path


def test_real_sample_support_and_hops_match_the_raw_records(shared_data: Path) -> None:
    path = shared_data / SAMPLE
    raw = json.loads(gzip.decompress(path.read_bytes()))
    records = parse_musique_file(path)

    assert len(records) == len(raw) == 100
    for record, row in zip(records, raw, strict=True):
        marked = [i for i, p in enumerate(row["paragraphs"]) if p["is_supporting"]]
        hop_paragraphs = {step["paragraph_support_idx"] for step in row["question_decomposition"]}
        assert record.support == marked, record.id
        assert {row["paragraphs"][i]["idx"] for i in record.support} == hop_paragraphs, record.id
        assert len(record.paragraphs) == 20
        assert record.id.startswith(f"{record.hops}hop")
    assert Counter(r.hops for r in records) == {2: 68, 3: 27, 4: 5}


def test_jsonl_and_json_list_parse_alike(tmp_path: Path) -> None:
    second = {**RAW, "id": "2hop__3_4"}
    from_list = parse_musique_file(_write(tmp_path, [RAW, second]))
    from_lines = parse_musique_file(_write(tmp_path, [RAW, second], jsonl=True))

    assert from_list == from_lines
    record = from_list[0]
    assert record.question == "Who founded the company that makes the Widget?"
    assert record.paragraphs[0] == ("Gadget", "A gadget is a tool.")
    assert record.support == [1, 2] and record.hops == 2
    assert record.answer_aliases == ["Ada L."]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("paragraphs"), "lacks the fields ['paragraphs']"),
        (
            lambda r: [p.update(is_supporting=False) for p in r["paragraphs"]],
            "marks no paragraph is_supporting",
        ),
        (lambda r: r.update(answerable=False), "is unanswerable"),
        (lambda r: r["paragraphs"][2].update(is_supporting=False), "not marked is_supporting"),
        (lambda r: r["question_decomposition"][1].update(paragraph_support_idx=9), "hop 2"),
        (lambda r: r["paragraphs"][0].pop("paragraph_text"), "paragraph 0 is not an object"),
        (lambda r: r.update(question_decomposition=[]), "question_decomposition is not a non-empty list"),
    ],
)
def test_bad_record_is_refused_naming_it(tmp_path: Path, change: Any, message: str) -> None:
    bad = copy.deepcopy(RAW)
    bad["id"] = "3hop1__bad"
    change(bad)

    with pytest.raises(QragInputError) as error:
        parse_musique_file(_write(tmp_path, [RAW, bad]))

    assert "record 1 (id '3hop1__bad')" in str(error.value)
    assert message in str(error.value)
    assert "Fix:" in str(error.value)


def test_malformed_jsonl_line_and_empty_file_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(RAW) + "\n{not json\n")
    with pytest.raises(QragInputError, match=r"broken.jsonl', line 2 is not JSON"):
        parse_musique_file(broken)

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(QragInputError, match="is empty"):
        parse_musique_file(empty)
