"""Crash safety: a killed run resumes where it was; nothing is ever half written.

- SIGKILL during `kedro run --pipelines train_q` (tiny, CPU, 12 updates, a checkpoint
  every 4), as soon as its first periodic checkpoint is in the run folder; then the
  same command again. It resumes from the last checkpoint (its log says "resuming
  from .../update-0000000N (update N of 12)" with N >= 4, so it runs 12 - N updates,
  not 12) and ends with the same model as an uninterrupted run: every weight equal
  within an absolute 1e-6 (stated tolerance; CPU, one thread, same seed: observed
  bitwise equal) and the same training curve but for its wall-clock speed column.
  The checkpoints the kill left are complete (each loads), and the hidden staging
  folder of a save the kill interrupted is ignored and removed on resume.
- A second identical train_q beside a running one (this test process holds the run
  folder's lock, as train_q does): `kedro run` stops at once on one line naming the
  folder and the holder's process, writing nothing; once the lock is free, it runs.
- A damaged latest checkpoint in a run folder: resuming stops with a message naming
  the folder to delete; after deleting it, training resumes from the one before.
- Tables are written atomically (qrag_pipeline.datasets.atomic_files, temporary file
  in the same folder + rename): during a save the target does not exist yet, a save
  that fails midway leaves neither the target nor a temporary file, and the previous
  version still loads; every table of the catalog uses these classes.
- Folder artifacts (chunk embeddings, checkpoints: VersionedFolderDataset) are written
  under a hidden staging name and renamed: a save that fails after its first file
  leaves no version folder, and the previous version loads. (A checkpoint's own
  staging is covered by tests/test_checkpoints.py and by the kill above.)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.io import DatasetError, Version

from qrag_pipeline.checkpoints import load_checkpoint
from qrag_pipeline.datasets.atomic_files import CSVDataset, ParquetDataset, TextDataset
from qrag_pipeline.datasets.embeddings_dataset import EpisodeEmbeddingsDataset
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.locks import exclusive
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.training import CURVE_COLUMNS, latest_checkpoint
from tests.conftest import PROJECT_ROOT, train_tiny
from tests.projects import kedro_cli, kedro_command, kedro_env, latest, make_project, run_stage

UPDATES = 12
EVERY = 4
TOLERANCE = 1e-6  # absolute, per weight; CPU with one thread gives bitwise equality
TRAIN = [
    "--pipelines",
    "train_q",
    "--params",
    f"train_q.learning.total_updates={UPDATES},train_q.checkpoint_every={EVERY},train_q.device=cpu",
]
TRAIN_PARAMS = {"train_q": {"learning": {"total_updates": UPDATES}, "checkpoint_every": EVERY}}
"""TRAIN's parameters, for `run_stage` (which runs every stage on the CPU)."""


def _start_kedro_run(project: Path, args: Sequence[str], log: IO[str]) -> subprocess.Popen:
    """`kedro run <args>` in the background, in a session of its own (so that it can be
    killed whole), writing its output to `log`."""
    return subprocess.Popen(
        kedro_command(*args),
        cwd=project,
        env=kedro_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill_after_first_checkpoint(project: Path) -> subprocess.Popen:
    log = (project / "killed.log").open("w")
    process = _start_kedro_run(project, TRAIN, log)
    runs = project / "data/06_models/train_q_runs"
    deadline = time.monotonic() + 900
    while process.poll() is None and time.monotonic() < deadline:
        if list(runs.glob("*/update-*")):
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(timeout=60)
    log.close()
    return process


def test_sigkill_during_train_q_then_the_same_command_resumes_and_ends_as_an_uninterrupted_run(
    prepared_project: Path, tmp_path: Path
) -> None:
    reference = make_project(tmp_path / "reference", data_from=prepared_project)
    run_stage(
        reference,
        "train_q",
        {"train_q": {"learning": {"total_updates": UPDATES}, "checkpoint_every": EVERY, "resume": False}},
    )

    project = make_project(tmp_path / "killed", data_from=prepared_project)
    killed = _kill_after_first_checkpoint(project)
    if killed.returncode == 0:
        pytest.fail("train_q ended before the kill: raise UPDATES so that it runs longer")
    assert killed.returncode == -signal.SIGKILL
    (run_dir,) = (project / "data/06_models/train_q_runs").iterdir()
    left = sorted(run_dir.glob("update-*"))
    assert left and all(load_checkpoint(c).training_state["learner"]["updates"] for c in left)
    assert not list(project.glob("data/06_models/q_embedder_checkpoint/*/*"))  # no model yet
    # what a kill during a checkpoint save leaves: a hidden staging folder
    staging = run_dir / f".update-{UPDATES:08d}.x1y2z3"
    staging.mkdir()
    (staging / "model.safetensors").write_bytes(b"half")

    resumed = kedro_cli(project, *TRAIN)

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    found = re.search(rf"resuming from \S*update-0*(\d+) \(update (\d+) of {UPDATES}\)", log)
    assert found, log[-3000:]
    assert int(found[1]) == int(found[2]) == int(left[-1].name.split("-")[1])
    assert EVERY <= int(found[2]) < UPDATES  # not from scratch
    assert not staging.exists()

    final = load_checkpoint(latest(project, "q_embedder_checkpoint"))
    expected = load_checkpoint(latest(reference, "q_embedder_checkpoint"))
    assert final.weights.keys() == expected.weights.keys()
    for name, weight in expected.weights.items():
        assert torch.allclose(final.weights[name], weight, rtol=0, atol=TOLERANCE), name
    timeless = [c for c in CURVE_COLUMNS if c != "updates_per_s"]
    curves, expected_curves = (
        pd.read_csv(latest(p, "training_curves.csv"))[timeless] for p in (project, reference)
    )
    pd.testing.assert_frame_equal(curves, expected_curves)


def test_a_damaged_latest_checkpoint_names_the_folder_to_delete(
    make_tiny_network, training_data, tmp_path: Path
) -> None:
    train_tiny(make_tiny_network, training_data, tmp_path)
    damaged = latest_checkpoint(tmp_path)
    assert damaged.name == "update-00000004"
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:2048])

    with pytest.raises(QragInputError) as raised:
        train_tiny(make_tiny_network, training_data, tmp_path)
    message = str(raised.value)
    assert message.startswith(f"cannot resume training from {str(damaged)!r}: cannot read checkpoint weights")
    assert "Fix: delete that folder to resume from the run's checkpoint before it" in message

    shutil.rmtree(damaged)
    assert train_tiny(make_tiny_network, training_data, tmp_path).curves["update"].tolist() == [2, 4]


# Atomic table writes


FRAME = pd.DataFrame({"update": [2, 4], "loss": [0.5, 0.25]})
NEWER = pd.DataFrame({"update": [2, 4, 6], "loss": [0.4, 0.2, 0.1]})


@pytest.mark.parametrize(
    ("dataset_class", "writer"), [(ParquetDataset, "to_parquet"), (CSVDataset, "to_csv")]
)
def test_a_table_save_that_fails_midway_leaves_nothing_and_the_previous_version_loads(
    dataset_class, writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "curves.table"
    args = {"save_args": {"index": False}} if dataset_class is CSVDataset else {}
    dataset_class(filepath=str(path), version=Version(None, "2026-01-01T00.00.00.000Z"), **args).save(FRAME)
    target = path / "2026-01-02T00.00.00.000Z" / "curves.table"
    write = getattr(pd.DataFrame, writer)
    seen = {}

    def torn_write(frame: pd.DataFrame, stream=None, **kwargs):
        stream = kwargs.pop("path_or_buf") if stream is None else stream
        write(frame, stream, **kwargs)  # the whole table went into the stream ...
        seen["stream"] = Path(stream.name)
        seen["target_during_write"] = target.exists()
        raise OSError("No space left on device")  # ... and then the disk filled up

    monkeypatch.setattr(pd.DataFrame, writer, torn_write)
    with pytest.raises(DatasetError, match="No space left on device"):
        dataset_class(filepath=str(path), version=Version(None, "2026-01-02T00.00.00.000Z"), **args).save(
            NEWER
        )
    monkeypatch.undo()

    assert seen["target_during_write"] is False
    assert seen["stream"].parent == target.parent  # same folder: the rename is atomic
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) == [
        "2026-01-01T00.00.00.000Z",
        "2026-01-01T00.00.00.000Z/curves.table",
    ]
    loaded = dataset_class(filepath=str(path), version=Version(None, None)).load()
    pd.testing.assert_frame_equal(loaded, FRAME)


def test_atomic_saves_leave_only_the_target(tmp_path: Path) -> None:
    TextDataset(filepath=str(tmp_path / "report.md")).save("# Report\n")
    ParquetDataset(filepath=str(tmp_path / "t.parquet")).save(FRAME)
    CSVDataset(filepath=str(tmp_path / "t.csv"), save_args={"index": False}).save(FRAME)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "t.csv", "t.parquet"]
    assert (tmp_path / "report.md").read_text() == "# Report\n"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), FRAME)


def test_every_table_in_the_catalog_is_written_atomically() -> None:
    catalog = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())
    tables = {
        name: entry["type"]
        for name, entry in catalog.items()
        if entry["type"].endswith(("ParquetDataset", "CSVDataset"))
    }
    assert tables and all(
        kind.startswith("qrag_pipeline.datasets.atomic_files.") for kind in tables.values()
    ), tables


def test_a_folder_artifact_save_that_fails_midway_leaves_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk embeddings (and checkpoints) are folders: staged beside the target, renamed."""
    embeddings = EpisodeEmbeddings(
        vectors=np.ones((2, 3), dtype=np.float16),
        texts=["a.", "b."],
        rows={"e1": np.array([0, 1])},
        encode_s=0.0,
        encoder={},
    )
    path = tmp_path / "pretrained_chunk_embeddings"
    EpisodeEmbeddingsDataset(str(path), Version(None, "2026-01-01T00.00.00.000Z")).save(embeddings)
    save = np.save
    calls = []

    def disk_full_on_second_file(file, array, **kwargs):
        calls.append(Path(file))
        if len(calls) == 2:
            raise OSError("No space left on device")
        save(file, array, **kwargs)

    monkeypatch.setattr(np, "save", disk_full_on_second_file)
    with pytest.raises(DatasetError, match="No space left on device"):
        EpisodeEmbeddingsDataset(str(path), Version(None, "2026-01-02T00.00.00.000Z")).save(embeddings)
    monkeypatch.undo()

    assert ".pretrained_chunk_embeddings." in str(calls[0].parent)  # written under a staging name
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_dir()) == [
        "2026-01-01T00.00.00.000Z",
        "2026-01-01T00.00.00.000Z/pretrained_chunk_embeddings",
    ]
    loaded = EpisodeEmbeddingsDataset(str(path), Version(None, None)).load()
    assert loaded.texts == ["a.", "b."]


def test_a_second_identical_train_q_beside_the_first_stops_clearly_and_the_first_ends_well(
    prepared_project: Path, tmp_path: Path
) -> None:
    """The first run is this test process, holding the run folder's lock as train_q
    does (`locks.exclusive`) while `kedro run` starts the same training beside it."""
    project = make_project(tmp_path / "project", data_from=prepared_project)
    run_stage(project, "train_q", TRAIN_PARAMS)
    (run_dir,) = (project / "data/06_models/train_q_runs").iterdir()
    (model,) = project.glob("data/06_models/q_embedder_checkpoint/*/q_embedder_checkpoint")

    with exclusive(run_dir, "train_q with these parameters"):
        second = kedro_cli(project, *TRAIN)

    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    last_line = second.stderr.strip().splitlines()[-1]
    folder = Path("data/06_models/train_q_runs") / run_dir.name
    holder = f"(process {os.getpid()})"  # this test's
    assert f"train_q with these parameters in '{folder}' is already running {holder}" in last_line
    assert " Fix: wait for that run to finish" in last_line
    assert list(project.glob("data/06_models/q_embedder_checkpoint/*/*")) == [model]  # nothing new
    # the lock is the operating system's: once its holder is gone, the same command runs
    run_stage(project, "train_q", TRAIN_PARAMS)
    assert len(list(project.glob("data/06_models/q_embedder_checkpoint/*/*"))) == 2
