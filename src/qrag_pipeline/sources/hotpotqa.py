"""HotpotQA questions (Yang et al. 2018, distractor setting): files and the hub.

A record is one question with its context paragraphs (title and sentences; 10 in
the distractor setting, 2 of them gold) and its supporting facts, (title, sentence
index) pairs. Two layouts exist and both load here: the official one (a JSON list
or JSONL; `_id`, `supporting_facts` = [[title, sent_id], ...], `context` = [[title,
[sentences]], ...]) and the Hugging Face column one (`id`, `supporting_facts` =
{title: [...], sent_id: [...]}, `context` = {title: [...], sentences: [...]}).

Supporting facts whose sentence index is outside its paragraph, or names an empty
sentence, are dropped with one warning per input: such a fact names no text, so no
sentence chunk can carry it, and keeping it would make every sentence episode of that
question unsolvable. Its paragraph stays gold as long as another fact of it remains.
The real samples in ../shared/data hold none (0 of 1580 dev, 0 of 100 train
questions); the check is there for other copies of the data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.json_records import read_json_records

LOGGER = logging.getLogger(__name__)

HUB_SOURCE = "hotpotqa/hotpot_qa"
HUB_CONFIG = "distractor"
REQUIRED_FIELDS = ("question", "answer", "supporting_facts", "context")
_FILE_SUFFIXES = (".json", ".jsonl", ".gz")
_FILE_FIX = (
    "give a HotpotQA file in the official layout (a JSON list or JSONL, plain or .gz) "
    "or in the Hugging Face column layout"
)


@dataclass(frozen=True)
class HotpotRecord:
    """One HotpotQA question in the official layout, whichever layout it came in.

    `context` keeps the sentences as stored (most start with a space, because the
    paragraph text is their concatenation); `supporting_facts` keeps the file's order.
    """

    id: str
    question: str
    answer: str
    type: str
    level: str
    supporting_facts: list[tuple[str, int]]
    context: list[tuple[str, list[str]]]


def parse_hotpotqa_file(path: str | Path) -> list[HotpotRecord]:
    """All records of a HotpotQA file: a JSON list or JSONL, plain or gzipped."""
    path = Path(path)
    where = f"HotpotQA file {str(path)!r}"
    return _convert_records(read_json_records(path, where, _FILE_FIX), where)


def load_hotpotqa_hub(source: str = HUB_SOURCE, split: str = "validation") -> list[HotpotRecord]:
    """Records of `split` of the hub set `source` (distractor setting), or of a local file.

    A `source` that is a file is parsed with `parse_hotpotqa_file`, so users without hub
    access can give the official JSON instead of the hub name.
    """
    if Path(source).is_file():
        return parse_hotpotqa_file(source)
    if source.endswith(_FILE_SUFFIXES):
        raise QragInputError(
            f"HotpotQA file {source!r} does not exist. Fix: check the path, or give a "
            f"hub name such as {HUB_SOURCE!r}."
        )
    where = f"HotpotQA hub set {source!r} ({HUB_CONFIG}, split {split!r})"
    return _convert_records(_hub_rows(source, split, where), where)


def split_records(
    records: Sequence[HotpotRecord], train_questions: int
) -> tuple[list[HotpotRecord], list[HotpotRecord]]:
    """The first `train_questions` records (file order) for training, the rest to evaluate.

    A fixed cut rather than a random one: the dev sample is sorted by position in the
    official dev file, so the same questions evaluate in every run and every report.
    """
    if not 0 < train_questions < len(records):
        raise QragInputError(
            f"train_questions is {train_questions} for {len(records)} HotpotQA records, "
            "which leaves the train or the evaluation part empty. Fix: set it between 1 "
            f"and {len(records) - 1}."
        )
    return list(records[:train_questions]), list(records[train_questions:])


def _convert_records(raw_records: Sequence[Any], where: str) -> list[HotpotRecord]:
    """Records from raw rows of either layout; `where` names the input in errors."""
    if not raw_records:
        raise QragInputError(f"{where} holds no records. Fix: {_FILE_FIX}.")
    records, dropped = [], 0
    for index, raw in enumerate(raw_records):
        record, n_dropped = _record(raw, f"{where}, record {index}")
        records.append(record)
        dropped += n_dropped
    if dropped:
        LOGGER.warning(
            "%s: dropped %d supporting facts whose sentence index is outside their "
            "paragraph or names an empty sentence",
            where,
            dropped,
        )
    return records


def _hub_rows(source: str, split: str, where: str) -> list[dict[str, Any]]:
    import datasets  # imported here: it takes seconds, and only the hub path needs it

    try:
        rows = datasets.load_dataset(source, HUB_CONFIG, split=split)
    except Exception as error:  # the hub client raises many types; all mean "not loadable"
        raise QragInputError(
            f"cannot load {where}: the Hugging Face hub is unreachable or has no such "
            f"set ({error}). Fix: check the name and your network, or give a local "
            "HotpotQA file (the official hotpot_dev_distractor_v1.json) as the source."
        ) from error
    return list(rows)


def _record(raw: Any, where: str) -> tuple[HotpotRecord, int]:
    """One record and the number of its supporting facts dropped (see module doc)."""
    if not isinstance(raw, Mapping):
        raise QragInputError(f"{where} is not a JSON object. Fix: {_FILE_FIX}.")
    record_id = raw.get("_id", raw.get("id"))
    if record_id is None:
        raise QragInputError(f"{where} lacks the field '_id' (or 'id'). Fix: {_FILE_FIX}.")
    where = f"{where} (id {record_id!r})"
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise QragInputError(f"{where} lacks the fields {missing}. Fix: {_FILE_FIX}.")
    context = _context(raw["context"], where)
    facts = _supporting_facts(raw["supporting_facts"], where)
    kept = _resolvable_facts(facts, dict(context), where)
    record = HotpotRecord(
        id=str(record_id),
        question=str(raw["question"]).strip(),
        answer=str(raw["answer"]).strip(),
        type=str(raw.get("type", "")),
        level=str(raw.get("level", "")),
        supporting_facts=kept,
        context=context,
    )
    return record, len(facts) - len(kept)


def _context(raw: Any, where: str) -> list[tuple[str, list[str]]]:
    """(title, sentences) pairs from either layout, with unique titles."""
    context = _pairs(raw, "context", ("title", "sentences"), "[title, [sentences]]", where)
    for title, sentences in context:
        if not (isinstance(title, str) and _is_text_list(sentences)):
            raise QragInputError(
                f"{where}: context paragraph {title!r} is not a title with a list of "
                f"sentences. Fix: {_FILE_FIX}."
            )
    titles = [title for title, _ in context]
    if len(set(titles)) != len(titles):
        raise QragInputError(
            f"{where}: context titles repeat ({titles}), so a supporting fact's title is "
            "ambiguous. Fix: give each paragraph of a question its own title."
        )
    return context


def _supporting_facts(raw: Any, where: str) -> list[tuple[str, int]]:
    """(title, sentence index) pairs from either layout."""
    facts = _pairs(raw, "supporting_facts", ("title", "sent_id"), "[title, sent_id]", where)
    bad = [fact for fact in facts if type(fact[1]) is not int]  # bool is no index
    if bad:
        raise QragInputError(
            f"{where}: supporting facts {bad} have a sentence index that is not a whole "
            f"number. Fix: {_FILE_FIX}."
        )
    return facts


def _pairs(raw: Any, field: str, columns: tuple[str, str], shape: str, where: str) -> list[tuple[Any, Any]]:
    """A field's pairs from the official layout (a list of 2-item lists) or the Hugging
    Face one (a dict of two equally long `columns`)."""
    pairs = _columns(raw, columns, f"{where}, {field}") if isinstance(raw, Mapping) else raw
    try:
        return [(first, second) for first, second in pairs]
    except (TypeError, ValueError) as error:
        raise QragInputError(
            f"{where}: {field} is not a list of {shape}: {error}. Fix: {_FILE_FIX}."
        ) from error


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _columns(raw: Mapping[str, Any], names: tuple[str, str], where: str) -> list[tuple[Any, Any]]:
    """Rows of a Hugging Face column dict, e.g. {title: [...], sent_id: [...]}."""
    missing = [name for name in names if name not in raw]
    if missing:
        raise QragInputError(f"{where} lacks the columns {missing}. Fix: {_FILE_FIX}.")
    first, second = (list(raw[name]) for name in names)
    if len(first) != len(second):
        raise QragInputError(
            f"{where}: columns {list(names)} differ in length ({len(first)} and "
            f"{len(second)}). Fix: {_FILE_FIX}."
        )
    return list(zip(first, second, strict=True))


def _resolvable_facts(
    facts: list[tuple[str, int]], paragraphs: Mapping[str, list[str]], where: str
) -> list[tuple[str, int]]:
    """The facts that name a non-empty sentence; an unknown title is an error."""
    unknown = sorted({title for title, _ in facts if title not in paragraphs})
    if unknown:
        raise QragInputError(
            f"{where}: supporting-fact titles {unknown} are not among its context titles "
            f"{list(paragraphs)}. Fix: give the question's full context, with the gold "
            "paragraphs (the distractor setting)."
        )
    return [
        (title, index)
        for title, index in facts
        if 0 <= index < len(paragraphs[title]) and paragraphs[title][index].strip()
    ]
