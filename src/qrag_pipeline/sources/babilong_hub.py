"""The official BabiLong test sets (Hugging Face `RMT-team/babilong`), through `datasets`.

On the hub each length is a configuration and each task a split, with the columns
`input` (the long text), `question` and `target`. The sets do not say which sentences
support the answer, so episodes from here carry an empty `support` and are scored by
answer accuracy only. A local folder in the same layout, `<folder>/<length>/<task>.
{jsonl,json,parquet}`, loads the same way for users without hub access.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qrag_pipeline.episodes import Episode, approx_token_count
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.sentences import split_sentences

if TYPE_CHECKING:
    import datasets

HUB_COLUMNS = ("input", "question", "target")
_LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def load_babilong_hub(source: str, length: str, task: str) -> list[Episode]:
    """Episodes of one length and task from the hub id or local folder `source`."""
    rows = _load_rows(source, length, task)
    missing = [c for c in HUB_COLUMNS if c not in rows.column_names]
    if missing:
        raise QragInputError(
            f"BabiLong set {source!r} ({length}, {task}) lacks columns {missing}. "
            f"Fix: give a set with the columns {list(HUB_COLUMNS)}."
        )
    episodes = []
    for index, row in enumerate(rows):
        chunks = split_sentences(row["input"])
        episodes.append(
            Episode(
                id=f"babilong-hub/{task}/{length}/{index:05d}",
                benchmark="babilong",
                task=task,
                length_bucket=length,
                question=str(row["question"]).strip(),
                answer=str(row["target"]).strip(),
                chunks=chunks,
                support=[],
                n_tokens=approx_token_count(chunks),
            )
        )
    return episodes


def _load_rows(source: str, length: str, task: str) -> datasets.Dataset:
    import datasets  # imported here: it takes seconds, and only this source needs it

    folder = Path(source)
    if folder.is_dir():
        candidates = [folder / length / f"{task}{suffix}" for suffix in _LOCAL_FORMATS]
        found = [path for path in candidates if path.is_file()]
        if not found:
            raise QragInputError(
                f"no BabiLong file for {task} at {length} in {str(folder)!r}. Fix: add "
                f"one of {[str(p) for p in candidates]}."
            )
        builder = _LOCAL_FORMATS[found[0].suffix]
        return datasets.load_dataset(builder, data_files=str(found[0]), split="train")
    try:
        return datasets.load_dataset(source, length, split=task)
    except Exception as error:  # the hub client raises many types; all mean "not loadable"
        raise QragInputError(
            f"cannot load BabiLong {source!r} (length {length!r}, task {task!r}) from "
            f"the Hugging Face hub: {error}. Fix: check the name and your network, or "
            "give a local folder in the same layout."
        ) from error
