"""Retrieval over your own documents: the three-line API and the qrag-retrieve CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qrag_pipeline.api import QRetriever, latest_checkpoint_dir
from qrag_pipeline.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models import backends
from qrag_pipeline.models.bfloat16_encoder import Bfloat16Encoder
from qrag_pipeline.retrieval.chunk_table import ChunkTable
from qrag_pipeline.retrieval.embeddings import embed_texts
from qrag_pipeline.retrieval.multistep import retrieve
from qrag_pipeline.retrieval.trace import learned_stop
from qrag_pipeline.retrieve_cli import main
from qrag_pipeline.rl.inference import greedy_rollout
from qrag_pipeline.sources.sentences import split_sentences

STORY = (
    "The sun rose over the quiet hills. John picked up the football. Mary went to the "
    "garden. The old miller counted his sacks of flour.\n\nJohn travelled to the "
    "kitchen. Rain fell on the roofs of the town. Sandra journeyed to the office."
)
QUESTION = "Where is the football?"


@pytest.fixture(scope="module")
def checkpoint_dir(make_tiny_network, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny network saved as train_q versions it: <root>/<timestamp>/<root name>."""
    root = tmp_path_factory.mktemp("models") / "q_embedder_checkpoint"
    directory = root / "2026-01-02T03.04.05.678Z" / root.name
    save_checkpoint(Checkpoint.from_network(make_tiny_network(seed=3)), directory)
    return directory


def test_three_lines_retrieve_from_a_text_in_document_order_with_q_values(
    checkpoint_dir: Path,
) -> None:
    retriever = QRetriever.from_checkpoint(checkpoint_dir, backend="torch")
    hits = retriever.retrieve(STORY, QUESTION, max_steps=3)
    chunks = split_sentences(STORY)
    assert [hit.index for hit in hits] == sorted(hit.index for hit in hits)
    assert sorted(hit.step for hit in hits) == [1, 2, 3]
    assert all(hit.text == chunks[hit.index] for hit in hits)
    network = retriever.network
    trace = retrieve(network, QUESTION, chunks, network.action_encoder.encode(chunks), 3)
    by_step = sorted(hits, key=lambda hit: hit.step)
    assert [hit.index for hit in by_step] == trace.retrieved
    assert [hit.q_value for hit in by_step] == pytest.approx(trace.q_values, abs=1e-6)


def test_the_default_backend_on_an_amx_cpu_retrieves_the_float32_chunks_with_close_q_values(
    checkpoint_dir: Path, monkeypatch
) -> None:
    monkeypatch.setattr(backends, "has_amx", lambda: True)
    default = QRetriever.from_checkpoint(checkpoint_dir)
    assert isinstance(default.chunk_encoder, Bfloat16Encoder)
    exact = QRetriever.from_checkpoint(checkpoint_dir, backend="torch")
    hits, exact_hits = default.retrieve(STORY, QUESTION, 3), exact.retrieve(STORY, QUESTION, 3)
    assert [hit.index for hit in hits] == [hit.index for hit in exact_hits]
    assert [hit.q_value for hit in hits] == pytest.approx([hit.q_value for hit in exact_hits], abs=1e-3)


def test_a_list_of_chunks_is_used_as_given_and_the_threshold_cuts_the_steps(
    checkpoint_dir: Path,
) -> None:
    retriever = QRetriever(load_checkpoint(checkpoint_dir).build_network(), backend="torch")
    chunks = split_sentences(STORY)
    from_list = retriever.retrieve(chunks, QUESTION, max_steps=4)
    assert from_list == retriever.retrieve(STORY, QUESTION, max_steps=4)
    assert len(from_list) == 4
    first_q = min(from_list, key=lambda hit: hit.step).q_value
    kept = retriever.retrieve(chunks, QUESTION, max_steps=4, stop_threshold=first_q)
    assert sorted(hit.step for hit in kept) == list(range(1, len(kept) + 1)) and kept
    assert all(hit.q_value >= first_q for hit in kept)
    network = retriever.network
    trace = retrieve(network, QUESTION, chunks, network.action_encoder.encode(chunks), 4)
    by_step = sorted(kept, key=lambda hit: hit.step)
    assert [hit.index for hit in by_step] == learned_stop(trace, first_q)
    assert retriever.retrieve(chunks, QUESTION, max_steps=4, stop_threshold=1e9) == []


@pytest.mark.parametrize("document", ["", "  \n\n ", [], ["", " "]])
def test_an_empty_document_is_refused(checkpoint_dir: Path, document) -> None:
    with pytest.raises(QragInputError, match="the document is empty"):
        QRetriever.from_checkpoint(checkpoint_dir).retrieve(document, QUESTION)


def test_an_empty_question_is_refused(checkpoint_dir: Path) -> None:
    with pytest.raises(QragInputError, match="the question is empty"):
        QRetriever.from_checkpoint(checkpoint_dir).retrieve(STORY, "  ")


def test_latest_checkpoint_dir_takes_the_newest_complete_version(
    checkpoint_dir: Path, tmp_path: Path
) -> None:
    root = checkpoint_dir.parent.parent
    assert latest_checkpoint_dir(root) == checkpoint_dir
    (root / "2099-01-01T00.00.00.000Z" / root.name).mkdir(parents=True)  # incomplete
    assert latest_checkpoint_dir(root) == checkpoint_dir
    with pytest.raises(QragInputError, match="no checkpoint under"):
        latest_checkpoint_dir(tmp_path / "q_embedder_checkpoint")


def test_cli_prints_the_hits_in_document_order_and_exits_0(
    checkpoint_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    argv = [
        "--checkpoint",
        str(checkpoint_dir),
        "--question",
        QUESTION,
        "--max-steps",
        "3",
    ]
    assert main([*argv, str(story)]) == 0
    lines = capsys.readouterr().out.splitlines()
    hits = QRetriever.from_checkpoint(checkpoint_dir).retrieve(STORY, QUESTION, max_steps=3)
    assert lines == [f"[{h.index}] step {h.step} Q={h.q_value:.4f}  {h.text}" for h in hits]


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qrag-retrieve: error: ")
    return err


def test_cli_bad_inputs_end_on_one_error_line_and_status_2(
    checkpoint_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    checkpoint = ["--checkpoint", str(checkpoint_dir), "--question", QUESTION]
    assert "cannot read" in _error_line(capsys, [*checkpoint, str(tmp_path / "missing.txt")])
    assert "the document is empty" in _error_line(capsys, [*checkpoint, str(empty)])
    missing = [
        "--checkpoint",
        str(tmp_path / "nowhere"),
        "--question",
        QUESTION,
        str(story),
    ]
    assert "is not a Q-embedder checkpoint" in _error_line(capsys, missing)
    monkeypatch.chdir(tmp_path)
    assert "no checkpoint under" in _error_line(capsys, ["--question", QUESTION, str(story)])


@pytest.mark.slow
def test_the_installed_command_fails_without_a_traceback(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "qrag-retrieve"
    if not command.is_file():
        pytest.skip("qrag-retrieve is not installed (pip install -e .)")
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    result = subprocess.run(
        [
            str(command),
            "--question",
            QUESTION,
            "--checkpoint",
            str(tmp_path),
            str(story),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("qrag-retrieve: error: ") and "Traceback" not in result.stderr


def test_a_frozen_action_encoder_checkpoint_retrieves_as_it_did_in_training(
    make_tiny_network, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The new kind of checkpoint (frozen action encoder, trained head): QRetriever and
    the CLI pick what the training-time greedy policy picks from the same chunks
    looked up in the pools' table."""
    network = make_tiny_network(seed=4, frozen_action_encoder=True, action_head="linear")
    with torch.no_grad():  # a head that training moved away from the identity
        network.action_head.weight.add_(0.3 * torch.randn(network.action_head.weight.shape))
    directory = tmp_path / "checkpoint"
    save_checkpoint(Checkpoint.from_network(network), directory)
    chunks = split_sentences(STORY)
    table = ChunkTable.from_embeddings(
        network.action_encoder, embed_texts(network.action_encoder, chunks, "float32", progress=False)
    )
    episode = Episode("e", "babilong", "qa2", "1k", QUESTION, "kitchen", chunks, [1, 4], 60)
    (in_training,) = greedy_rollout(network, [episode], 3, chunk_embeddings=[table.lookup(chunks)])

    retriever = QRetriever.from_checkpoint(directory)
    assert retriever.network.frozen_action_encoder and retriever.network.action_head is not None
    hits = sorted(retriever.retrieve(STORY, QUESTION, max_steps=3), key=lambda hit: hit.step)
    assert [hit.index for hit in hits] == in_training

    story = tmp_path / "story.txt"
    story.write_text(STORY)
    assert main(["--checkpoint", str(directory), "--max-steps", "3", "--question", QUESTION, str(story)]) == 0
    printed = [int(line.split("]")[0][1:]) for line in capsys.readouterr().out.splitlines()]
    assert printed == sorted(in_training)


def test_the_checkpoints_learned_threshold_stops_retrieval_by_default(
    make_tiny_network, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = make_tiny_network(seed=3)
    chunks = split_sentences(STORY)
    trace = retrieve(network, QUESTION, chunks, network.action_encoder.encode(chunks), 4)
    between = (trace.q_values[0] + trace.q_values[1]) / 2  # keeps the first pick only
    assert trace.q_values[1] < between < trace.q_values[0]
    directory = tmp_path / "checkpoint"
    save_checkpoint(
        Checkpoint.from_network(network, stop_thresholds={"all": between, "ruler": 9.0}), directory
    )

    retriever = QRetriever.from_checkpoint(directory)
    assert retriever.stop_threshold == between  # the one chosen on all benchmarks
    (hit,) = retriever.retrieve(STORY, QUESTION, max_steps=4)
    assert hit.index == trace.retrieved[0]
    assert len(retriever.retrieve(STORY, QUESTION, max_steps=4, stop_threshold=None)) == 4
    with pytest.raises(QragInputError, match=r"unknown stop threshold 'learnt'\. Fix:"):
        retriever.retrieve(STORY, QUESTION, stop_threshold="learnt")

    story = tmp_path / "story.txt"
    story.write_text(STORY)
    base = ["--checkpoint", str(directory), "--question", QUESTION, str(story)]
    for extra, expected in (([], 1), (["--no-stop"], 4), (["--threshold=-1e9"], 4)):
        assert main([*extra, *base]) == 0
        assert len(capsys.readouterr().out.splitlines()) == expected, extra


def test_the_retriever_builds_states_with_the_chunk_budget_the_checkpoint_trained_with(
    make_tiny_network, tmp_path: Path
) -> None:
    network = make_tiny_network(seed=3, chunk_budget=3)
    chunks = split_sentences(STORY)
    short = retrieve(network, QUESTION, chunks, network.action_encoder.encode(chunks), 4)
    save_checkpoint(Checkpoint.from_network(network), tmp_path / "trained")

    retriever = QRetriever.from_checkpoint(tmp_path / "trained", backend="torch")
    assert retriever.network.chunk_budget == 3
    hits = sorted(
        retriever.retrieve(STORY, QUESTION, max_steps=4, stop_threshold=None), key=lambda hit: hit.step
    )
    assert [hit.q_value for hit in hits] == pytest.approx(short.q_values, abs=1e-5)


@pytest.mark.parametrize(("learning", "budget"), [({"chunk_budget": 3}, 3), ({}, 64)])
def test_a_checkpoint_from_before_the_network_held_its_budget_keeps_the_one_it_trained_with(
    make_tiny_network, tmp_path: Path, learning: dict, budget: int
) -> None:
    """Older checkpoints recorded the budget with the learner's settings, or not at all
    (trained at 64)."""
    checkpoint = Checkpoint.from_network(make_tiny_network(seed=3), training_state={"learning": learning})
    del checkpoint.config["chunk_budget"]
    save_checkpoint(checkpoint, tmp_path / "older")
    assert "chunk_budget" not in json.loads((tmp_path / "older" / "config.json").read_text())
    assert QRetriever.from_checkpoint(tmp_path / "older", backend="torch").network.chunk_budget == budget
