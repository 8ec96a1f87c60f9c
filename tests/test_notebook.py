"""notebooks/walkthrough.ipynb runs end to end (nbclient) on the tiny environment, in a
scratch project where data_prep, embed, train_q and evaluate have run, and shows the
question, each step's pick and the reader's answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from qrag_pipeline.episodes import episodes_from_frame
from qrag_pipeline.readers.rule_reader import RuleReader
from tests.conftest import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "walkthrough.ipynb"
T = 4  # evaluate.max_steps
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")


def _latest(root: Path, folder: str, name: str) -> Path:
    return sorted((root / "data" / folder / name).glob(f"*/{name}"))[-1]


def _text(cell: nbformat.NotebookNode) -> str:
    """What a code cell printed or displayed as text, without terminal colours."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return ANSI.sub("", "".join(parts))


def test_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_walkthrough_notebook_runs_on_the_tiny_environment(
    copy_of: Callable[[Path], Path], evaluated_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_copy = copy_of(evaluated_project)

    # The notebook stays in the checkout; these point it at the scratch project.
    monkeypatch.setenv("QRAG_PROJECT_ROOT", str(project_copy))
    monkeypatch.setenv("QRAG_NOTEBOOK_ENV", "tiny")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()  # raises CellExecutionError, with the cell and traceback, on failure

    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    text = "\n".join(_text(cell) for cell in cells)
    assert "Traceback" not in text

    # The episode it walks through: the longest BabiLong one.
    episodes = episodes_from_frame(
        pd.read_parquet(_latest(project_copy, "05_model_input", "eval_episodes.parquet"))
    )
    episode = max(
        (e for e in episodes if e.benchmark == "babilong"),
        key=lambda e: (e.n_tokens, len(e.chunks)),
    )
    assert f"project: {project_copy.resolve()}" in text
    assert "environment: tiny" in text
    assert f"episode: {episode.id} " in text
    assert f"question: {episode.question}" in text

    # One line per step: the pick, its Q value and whether it is a supporting fact;
    # the picks are the evaluate pipeline's own trace of that episode.
    traces = pd.read_parquet(_latest(project_copy, "07_model_output", "q_retrieval_traces.parquet"))
    (stored,) = traces.loc[traces.episode_id == episode.id, "retrieved"]
    picks = re.findall(
        r"step (\d+): picked chunk (\d+) \(Q = (-?[\d.]+), (supporting fact|not a "
        r"supporting fact)\): (.*)",
        text,
    )
    assert [int(step) for step, *_ in picks] == list(range(1, T + 1))
    assert [int(chunk) for _, chunk, *_ in picks] == [int(i) for i in stored[:T]]
    for _, chunk, _, kind, sentence in picks:
        assert (kind == "supporting fact") == (int(chunk) in episode.support)
        assert sentence == episode.chunks[int(chunk)]
    assert len(re.findall(r"runners-up \(\* = supporting fact\): \d+\*?: ", text)) == T
    assert re.search(r"learned stop: (stops before step \d|every Q reaches)", text)

    # The reader's answer from the retrieved chunks, and the gold answer.
    answer = RuleReader(episode.task).answer(episode.question, episode.chunks, [int(i) for i in stored[:T]])
    assert f"rule reader answer from the {T} retrieved chunks: {answer!r}" in text
    assert f"gold answer: {episode.answer!r}" in text

    # The plot and the metrics table.
    assert any("image/png" in output.get("data", {}) for cell in cells for output in cell.outputs)
    table = _text(cells[-1])
    assert "fact_em@T=4" in table
    assert "q_rag" in table and "multistep_dense" in table
