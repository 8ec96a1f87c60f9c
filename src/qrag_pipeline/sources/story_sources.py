"""Where bAbI stories come from: the built-in generator (offline default) or the files.

One switch (`source`) picks the origin; everything downstream receives `BabiSample`s
either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.seeding import derive_seed
from qrag_pipeline.sources.babi_files import BabiSample, babi_file, check_task, parse_babi_file
from qrag_pipeline.sources.babi_generator import generate_babi_samples

STORY_SOURCES = ("generator", "babi_files")


def load_story_samples(spec: Mapping[str, Any], task: str, split: str, seed: int) -> list[BabiSample]:
    """The questions of `task` for `split` from the source described by `spec`.

    `spec` keys: `source` (generator | babi_files); for the generator
    `generated_<split>_stories` and, optionally, `<split>_vocabulary` (official, the
    default, or varied: wider names, rooms, things and verbs); for files `babi_dirs`,
    folders searched in order for the task's file (en-10k lacks qa3 train, so list en/
    after it).
    """
    check_task(task)
    source = spec.get("source")
    if source == "generator":
        key = f"generated_{split}_stories"
        if key not in spec:
            raise QragInputError(
                f"data_prep.stories.{key} is not set. Fix: give the number of "
                f"{split} stories the generator writes per task."
            )
        return generate_babi_samples(
            task,
            spec[key],
            derive_seed(seed, "stories", split, task),
            spec.get(f"{split}_vocabulary", "official"),
        )
    if source == "babi_files":
        return parse_babi_file(_first_file(spec.get("babi_dirs") or [], task, split), task)
    raise QragInputError(
        f"unknown story source {source!r}. Fix: set data_prep.stories.source to one of {STORY_SOURCES}."
    )


def _first_file(folders: Sequence[str | Path], task: str, split: str) -> Path:
    errors = []
    for folder in folders:
        try:
            return babi_file(folder, task, split)
        except QragInputError as error:
            errors.append(str(error))
    raise QragInputError(
        f"no bAbI file for {task} {split} in data_prep.stories.babi_dirs={list(folders)}"
        + (": " + " | ".join(errors) if errors else "")
        + ". Fix: list folders of the official files, e.g. [.../en-10k, .../en]."
    )
