"""The HotpotQA loader on the real dev and train samples, both layouts, and bad files.

The real dev sample (1580 questions, official layout, sorted by position in the
official dev file) is described in ../shared/data/PROVENANCE.md section 3. The hub is
unreachable here, so the hub path is checked through a local file and through a
stand-in `datasets.load_dataset` that returns rows in the hub's column layout.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.hotpotqa import (
    HotpotRecord,
    load_hotpotqa_hub,
    parse_hotpotqa_file,
    split_records,
)

DEV_SAMPLE = "hotpotqa/hotpot_dev_distractor_v1.sample.json.gz"
DEV_SOURCES = "hotpotqa/hotpot_dev_distractor_v1.sample.sources.tsv"
TRAIN_SAMPLE = "hotpotqa/hotpot_train_v1.1.sample100.json.gz"

RAW = {
    "_id": "q1",
    "answer": "Paris",
    "question": "Where was the painter of Mona Lisa's friend born? ",
    "supporting_facts": [["Alpha", 1], ["Beta", 0]],
    "context": [
        ["Alpha", ["Alpha is a painter.", " He lived in Rome."]],
        ["Beta", ["Beta was born in Paris.", " ", ""]],
        ["Gamma", ["Gamma is a river."]],
    ],
    "type": "bridge",
    "level": "hard",
}


def _hub_layout(raw: dict[str, Any]) -> dict[str, Any]:
    """The Hugging Face column layout of an official-layout record."""
    facts, context = raw["supporting_facts"], raw["context"]
    return {
        "id": raw["_id"],
        "question": raw["question"],
        "answer": raw["answer"],
        "type": raw["type"],
        "level": raw["level"],
        "supporting_facts": {
            "title": [title for title, _ in facts],
            "sent_id": [index for _, index in facts],
        },
        "context": {
            "title": [title for title, _ in context],
            "sentences": [sentences for _, sentences in context],
        },
    }


def _expected(raw: list[dict[str, Any]]) -> list[HotpotRecord]:
    """The records `raw` (official layout) should parse to, built by hand."""
    return [
        HotpotRecord(
            id=r["_id"],
            question=r["question"].strip(),
            answer=r["answer"],
            type=r["type"],
            level=r["level"],
            supporting_facts=[tuple(fact) for fact in r["supporting_facts"]],
            context=[tuple(paragraph) for paragraph in r["context"]],
        )
        for r in raw
    ]


@pytest.fixture(scope="module")
def dev_raw(shared_data: Path) -> list[dict[str, Any]]:
    with gzip.open(shared_data / DEV_SAMPLE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def dev_records(shared_data: Path) -> list[HotpotRecord]:
    return parse_hotpotqa_file(shared_data / DEV_SAMPLE)


@pytest.mark.shared_data
def test_every_real_dev_record_parses_unchanged(
    dev_raw: list[dict[str, Any]], dev_records: list[HotpotRecord]
) -> None:
    """All 1580 parse with nothing dropped: the sample has no out-of-range fact."""
    assert len(dev_records) == 1580
    for record, raw in zip(dev_records, dev_raw, strict=True):
        assert record.id == raw["_id"]
        assert record.question == raw["question"].strip()  # a few end in "? "
        assert record.answer == raw["answer"]
        assert record.supporting_facts == [tuple(fact) for fact in raw["supporting_facts"]]
        assert record.context == [tuple(paragraph) for paragraph in raw["context"]]
    assert Counter(record.type for record in dev_records) == {
        "bridge": 1265,
        "comparison": 315,
    }
    assert {record.level for record in dev_records} == {"hard"}


@pytest.mark.shared_data
def test_real_dev_records_follow_the_official_dev_order(
    shared_data: Path, dev_records: list[HotpotRecord]
) -> None:
    """The fixed split relies on file order being dev order (the sources table)."""
    with (shared_data / DEV_SOURCES).open(encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    assert [row["_id"] for row in rows] == [record.id for record in dev_records]
    positions = [int(row["dev_index"]) for row in rows]
    assert positions == sorted(set(positions))


@pytest.mark.shared_data
def test_both_gold_titles_are_in_every_real_context(dev_records: list[HotpotRecord]) -> None:
    for record in dev_records:
        titles = [title for title, _ in record.context]
        gold = {title for title, _ in record.supporting_facts}
        assert len(gold) == 2 and gold <= set(titles), record.id
        assert len(set(titles)) == len(titles), record.id


@pytest.mark.shared_data
def test_exactly_nine_real_questions_have_fewer_than_ten_paragraphs(
    dev_records: list[HotpotRecord],
) -> None:
    sizes = Counter(len(record.context) for record in dev_records)
    assert sizes == {10: 1571, 2: 4, 4: 3, 6: 1, 9: 1}


@pytest.mark.shared_data
def test_supporting_facts_name_the_right_sentences(dev_records: list[HotpotRecord]) -> None:
    """Sentence texts checked by hand against the first question of the dev file."""
    first = dev_records[0]
    assert first.question == "Were Scott Derrickson and Ed Wood of the same nationality?"
    assert first.answer == "yes"
    paragraphs = dict(first.context)
    assert [paragraphs[title][index] for title, index in first.supporting_facts] == [
        "Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer.",
        "Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978) was an American "
        "filmmaker, actor, writer, producer, and director.",
    ]
    for record in dev_records:
        paragraphs = dict(record.context)
        assert all(paragraphs[t][i].strip() for t, i in record.supporting_facts), record.id


@pytest.mark.shared_data
def test_the_real_train_sample_parses(shared_data: Path) -> None:
    records = parse_hotpotqa_file(shared_data / TRAIN_SAMPLE)
    assert len(records) == 100
    assert Counter(record.level for record in records) == {"easy": 16, "medium": 69, "hard": 15}
    for record in records:
        assert {title for title, _ in record.supporting_facts} <= dict(record.context).keys()


@pytest.mark.shared_data
def test_jsonl_and_hub_layout_files_give_the_same_records(
    tmp_path: Path, dev_raw: list[dict[str, Any]], dev_records: list[HotpotRecord]
) -> None:
    raw = dev_raw[:5]
    jsonl = tmp_path / "dev.jsonl"
    jsonl.write_text("".join(json.dumps(record) + "\n\n" for record in raw))
    hub_layout = tmp_path / "dev_hub.json.gz"
    hub_layout.write_bytes(gzip.compress(json.dumps([_hub_layout(r) for r in raw]).encode()))
    assert parse_hotpotqa_file(jsonl) == dev_records[:5]
    assert parse_hotpotqa_file(hub_layout) == dev_records[:5]


@pytest.mark.shared_data
def test_the_fixed_split_keeps_file_order(dev_records: list[HotpotRecord]) -> None:
    train, evaluate = split_records(dev_records, 500)
    assert (len(train), len(evaluate)) == (500, 1080)
    assert train + evaluate == dev_records
    assert split_records(dev_records, 500) == (train, evaluate)


def test_a_split_that_leaves_a_side_empty_is_an_error() -> None:
    records = _expected([RAW, {**RAW, "_id": "q2"}])
    assert split_records(records, 1) == (records[:1], records[1:])
    for bad in (0, 2, -1):
        with pytest.raises(QragInputError, match="leaves the train or the evaluation part"):
            split_records(records, bad)


def _write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def test_a_small_official_file_parses(tmp_path: Path) -> None:
    (record,) = parse_hotpotqa_file(_write(tmp_path / "one.json", [RAW]))
    assert record == _expected([RAW])[0]
    assert record.question.endswith("born?")
    with pytest.raises(QragInputError, match="cannot read HotpotQA file .*missing.json"):
        parse_hotpotqa_file(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"_id": "q1", "question": ', "is not JSON"),
        ('{"_id": "q1"}\nnot json\n', "line 2 is not JSON"),
        ("", "is empty"),
        ("  \n", "is empty"),
        ("[]", "holds no records"),
        ('["a record"]', "record 0 is not a JSON object"),
    ],
)
def test_unreadable_files_are_errors_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(QragInputError, match=message) as error:
        parse_hotpotqa_file(path)
    assert str(path) in str(error.value) and "Fix:" in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"_id": None}, r"record 1 lacks the field '_id' \(or 'id'\)"),
        ({"answer": None}, r"record 1 \(id 'q2'\) lacks the fields \['answer'\]"),
        ({"context": None}, r"lacks the fields \['context'\]"),
        ({"supporting_facts": None}, r"lacks the fields \['supporting_facts'\]"),
        (
            {"supporting_facts": [["Delta", 0]]},
            r"record 1 \(id 'q2'\): supporting-fact titles \['Delta'\] are not among",
        ),
        ({"supporting_facts": [["Alpha", "0"]]}, "not a whole number"),
        ({"context": [["Alpha", "one string"]]}, "not a title with a list of sentences"),
        ({"context": [["Alpha", ["a"]], ["Alpha", ["b"]]]}, "context titles repeat"),
    ],
)
def test_bad_records_are_errors_naming_file_record_and_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    changed = {**RAW, "_id": "q2", **change}
    second = {key: value for key, value in changed.items() if value is not None}
    path = _write(tmp_path / "bad.json", [RAW, second])
    with pytest.raises(QragInputError, match=message) as error:
        parse_hotpotqa_file(path)
    assert str(path) in str(error.value)


def test_facts_outside_their_paragraph_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Index 5 of a 2-sentence paragraph and the blank sentence 1 of Beta name no text."""
    facts = [["Alpha", 1], ["Alpha", 5], ["Beta", 0], ["Beta", 1], ["Beta", -1]]
    path = _write(tmp_path / "odd.json", [{**RAW, "supporting_facts": facts}])
    with caplog.at_level(logging.WARNING, logger="qrag_pipeline.sources.hotpotqa"):
        (record,) = parse_hotpotqa_file(path)
    assert record.supporting_facts == [("Alpha", 1), ("Beta", 0)]
    assert "dropped 3 supporting facts" in caplog.text and str(path) in caplog.text


def test_hub_source_that_is_a_local_file_is_parsed(tmp_path: Path) -> None:
    path = _write(tmp_path / "dev.json", [_hub_layout(RAW)])
    assert load_hotpotqa_hub(str(path), "validation") == _expected([RAW])
    with pytest.raises(QragInputError, match="does not exist"):
        load_hotpotqa_hub(str(tmp_path / "missing.json.gz"), "validation")


def test_hub_rows_in_column_layout_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def load_dataset(*args: Any, **kwargs: Any) -> datasets.Dataset:
        calls.append((args, kwargs))
        return datasets.Dataset.from_list([_hub_layout(RAW), _hub_layout({**RAW, "_id": "q2"})])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    records = load_hotpotqa_hub("hotpotqa/hotpot_qa", "validation")
    assert calls == [(("hotpotqa/hotpot_qa", "distractor"), {"split": "validation"})]
    assert [record.id for record in records] == ["q1", "q2"]
    assert records[0] == _expected([RAW])[0]


def test_an_unreachable_hub_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: Any, **kwargs: Any) -> datasets.Dataset:
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(QragInputError, match="hub is unreachable") as error:
        load_hotpotqa_hub("hotpotqa/hotpot_qa", "validation")
    assert "give a local" in str(error.value)
