"""Parser for the official bAbI task files (Weston et al. 2015, tasks v1.2).

The format: each line is `N text`; N restarts at 1 for every story. A question line is
`N question<TAB>answer<TAB>supporting ids`, where the ids are the line numbers of fact
lines in the same story. Quirks handled here: question lines consume a line number but
are not facts; a story goes on after a question, so later questions see more facts;
the question may end in `? ` or `?` before the tab; supporting ids are not sorted.

Each question becomes one `BabiSample`: the facts seen before it, the question, the
answer and the indices (into those facts) of its supporting facts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qrag_pipeline.errors import QragInputError

BABI_TASKS = {
    "qa1": "single-supporting-fact",
    "qa2": "two-supporting-facts",
    "qa3": "three-supporting-facts",
    "qa4": "two-arg-relations",
    "qa5": "three-arg-relations",
}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class BabiSample:
    """One bAbI question with the story facts that precede it.

    `support` indexes `facts` and keeps the file's order of supporting ids (the
    reasoning order, latest fact first in qa2/qa3), not document order.
    """

    task: str
    story: int
    facts: tuple[str, ...]
    question: str
    answer: str
    support: tuple[int, ...]


def check_task(task: str) -> str:
    """Return `task` if it is one of qa1-qa5, else raise with the list of valid names."""
    if task not in BABI_TASKS:
        raise QragInputError(f"unknown bAbI task {task!r}. Fix: use one of {sorted(BABI_TASKS)}.")
    return task


def babi_file(folder: str | Path, task: str, split: str) -> Path:
    """The official file of `task` and `split` in `folder` (e.g. tasks_1-20_v1-2/en-10k)."""
    check_task(task)
    if split not in SPLITS:
        raise QragInputError(f"unknown bAbI split {split!r}. Fix: use one of {SPLITS}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise QragInputError(
            f"bAbI folder {str(folder)!r} does not exist. Fix: point the parameter at "
            "a folder of the official files (e.g. tasks_1-20_v1-2/en-10k), or use "
            "the built-in generator (source: generator)."
        )
    name = f"{task}_{BABI_TASKS[task]}_{split}.txt"
    path = folder / name
    if not path.is_file():
        raise QragInputError(
            f"bAbI file {name!r} is not in {str(folder)!r}. Fix: add it, or choose a "
            "folder that has it (en/ has every task; en-10k may lack qa3 train)."
        )
    return path


def parse_babi_file(path: str | Path, task: str | None = None) -> list[BabiSample]:
    """Every question of a bAbI file as a `BabiSample`, in file order.

    `task` defaults to the file name's prefix (`qa2_...` gives `qa2`). A malformed
    line raises `QragInputError` naming the file and line number.
    """
    path = Path(path)
    task = task or path.name.split("_", 1)[0]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QragInputError(
            f"cannot read bAbI file {str(path)!r}: {error}. Fix: give a readable "
            "UTF-8 text file in the official bAbI format."
        ) from error
    samples = list(_parse_lines(lines, path, task))
    if not samples:
        raise QragInputError(
            f"bAbI file {str(path)!r} holds no question lines. Fix: give an official "
            "bAbI task file (questions are lines with `question<TAB>answer<TAB>ids`)."
        )
    return samples


def _parse_lines(lines: list[str], path: Path, task: str) -> Iterator[BabiSample]:
    facts: list[str] = []
    fact_index_of_line: dict[int, int] = {}
    previous_id = 0
    story = -1
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        head, _, text = line.partition(" ")
        if not head.isdigit() or not text.strip():
            raise QragInputError(
                f"{where}: expected `N text` with a line number N, got {line[:60]!r}. "
                "Fix: repair or remove this line."
            )
        line_id = int(head)
        if line_id == 1:
            facts, fact_index_of_line, story = [], {}, story + 1
        elif line_id != previous_id + 1 or story < 0:
            raise QragInputError(
                f"{where}: line number {line_id} does not follow {previous_id} (numbers "
                "restart at 1 for each story and then go up by one). Fix: renumber "
                "the story."
            )
        previous_id = line_id
        if "\t" not in text:
            fact_index_of_line[line_id] = len(facts)
            facts.append(text.strip())
            continue
        yield _question(text, facts, fact_index_of_line, where, task, story)


def _question(
    text: str,
    facts: list[str],
    fact_index_of_line: dict[int, int],
    where: str,
    task: str,
    story: int,
) -> BabiSample:
    fields = text.split("\t")
    if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
        raise QragInputError(
            f"{where}: a question line needs `question<TAB>answer<TAB>supporting ids`, "
            f"got {len(fields)} tab-separated fields. Fix: repair this line."
        )
    question, answer, ids = (field.strip() for field in fields)
    try:
        line_ids = [int(token) for token in ids.split()]
    except ValueError:
        raise QragInputError(
            f"{where}: supporting ids {ids!r} are not whole numbers. Fix: list the "
            "line numbers of the supporting facts, separated by spaces."
        ) from None
    if not line_ids:
        raise QragInputError(
            f"{where}: question {question!r} has no supporting fact ids. Fix: add the "
            "line numbers of its supporting facts."
        )
    unknown = [i for i in line_ids if i not in fact_index_of_line]
    if unknown:
        raise QragInputError(
            f"{where}: supporting ids {unknown} are not fact lines seen earlier in this "
            "story. Fix: point them at fact lines above the question."
        )
    return BabiSample(
        task=task,
        story=story,
        facts=tuple(facts),
        question=question,
        answer=answer,
        support=tuple(fact_index_of_line[i] for i in line_ids),
    )
