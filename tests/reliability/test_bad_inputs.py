"""Bad inputs: every kind ends on one clear error, a non-zero exit, and no partial artifact.

Through `kedro run` in a subprocess, as a user types it (exit status 1, stderr ends on
one "Error: ..." line that names the input and says "Fix:", no traceback, data/ as
before the run):

- unknown environment (`--env nosuchenv`)
- malformed bAbI line (no line number)
- bAbI supporting-fact id out of range (names no fact line above the question)
- books folder with no text (no .txt/.txt.gz file)
- a document with no sentences (a book of chapter headings only)
- HotpotQA record missing a required field
- unknown bAbI task
- unknown length bucket
- parameter of the wrong type (`train_q.learning.learning_rate=fast`)
- parameter of the wrong sign (`data_prep.babilong.episodes_per_task_length=-2`)
- missing model directory (`train_q.model.name_or_path`)
- truncated checkpoint (`q_embedder_checkpoint` weights cut short, read by embed)
- a `--load-versions` version that was never saved

In-process (`run_stage`, faster; the same `QragInputError` the command line prints,
and the same check that data/ is unchanged):

- empty bAbI file; a bAbI question with no supporting facts; a missing bAbI folder
- empty HotpotQA file; a HotpotQA file that is not JSON
- a BabiLong hub document with no sentences (empty `input`)
- an evaluation episode whose support indices are outside its chunks (tampered table)
- unknown train_q task; unknown device
- corrupt model directory (config.json not JSON); a folder that is no model
- more wrong types and signs: `train_q.checkpoint_every=0`, `train_q.learning.total_updates=2.5`,
  `train_q.validation_questions='x'`, `train_q.hotpotqa_mix_chunks=-1`, `evaluate.max_steps=0`,
  `train_q.distributed.nproc_per_node=0`, `evaluate.stop_threshold='x'`

A damaged checkpoint in a run folder (resume) is in test_crash_safety.py, pickled and
tampered checkpoints in test_safe_loading.py, a diverging loss in
test_numerical_guards.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from qrag_pipeline.cli_hooks import input_error_in
from qrag_pipeline.errors import QragInputError
from tests.conftest import data_files
from tests.projects import kedro_cli, latest, make_project, run_stage

QA1_TRAIN = "qa1_single-supporting-fact_train.txt"
STORY = "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"


def babi_folder(tmp: Path, text: str) -> Path:
    """A folder with one (bad) qa1 train file, for data_prep.stories.babi_dirs."""
    folder = tmp / "babi"
    folder.mkdir()
    (folder / QA1_TRAIN).write_text(text)
    return folder


def babi_params(folder: Path) -> str:
    return (
        f"data_prep.stories.source=babi_files,data_prep.stories.babi_dirs=[{folder}],"
        "data_prep.babilong.tasks=[qa1]"
    )


def books_params(folder: Path) -> str:
    return (
        f"data_prep.distractors.source=books,data_prep.distractors.train_books_dir={folder},"
        f"data_prep.distractors.test_books_dir={folder}"
    )


def hotpotqa_params(path: Path) -> str:
    return f"data_prep.benchmarks=[hotpotqa],data_prep.hotpotqa.path={path}"


def folder_with(tmp: Path, name: str, files: dict[str, str]) -> Path:
    folder = tmp / name
    folder.mkdir()
    for file_name, text in files.items():
        (folder / file_name).write_text(text)
    return folder


def truncate_checkpoint(project: Path, tmp: Path) -> Path:
    weights = latest(project, "q_embedder_checkpoint") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    return weights


@dataclass
class Case:
    """One bad input given to `kedro run`: `args(tmp)` gives the run's arguments
    (after `kedro run --env <env>`); `setup(project, tmp)` damages the project first."""

    args: Callable[[Path], list[str]]
    expected: Callable[[Path], str]
    data: str | None = None  # None: empty data/; "prepared"/"trained": a copy of that project
    env: str = "tiny"
    setup: Callable[[Path, Path], object] = field(default=lambda project, tmp: None)


def data_prep(params: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    return lambda tmp: ["--pipelines", "data_prep", "--params", params(tmp)]


CLI_CASES = {
    "unknown_environment": Case(
        lambda tmp: ["--pipelines", "data_prep"],
        lambda tmp: "configuration environment 'nosuchenv' does not exist (no folder ",
        env="nosuchenv",
    ),
    "malformed_babi_line": Case(
        data_prep(lambda tmp: babi_params(babi_folder(tmp, STORY + "three Where is Mary?\tbathroom\t1\n"))),
        lambda tmp: f"{tmp / 'babi' / QA1_TRAIN}:3: expected `N text` with a line number N",
    ),
    "support_id_out_of_range": Case(
        data_prep(lambda tmp: babi_params(babi_folder(tmp, STORY + "3 Where is Mary?\tbathroom\t7\n"))),
        lambda tmp: f"{tmp / 'babi' / QA1_TRAIN}:3: supporting ids [7] are not fact lines",
    ),
    "books_folder_without_text": Case(
        data_prep(lambda tmp: books_params(folder_with(tmp, "books", {"README.md": "no books here"}))),
        lambda tmp: f"books folder '{tmp / 'books'}' holds no .txt or .txt.gz file",
    ),
    "document_without_sentences": Case(
        data_prep(
            lambda tmp: books_params(folder_with(tmp, "books", {"headings.txt": "CHAPTER I\n\nCHAPTER II\n"}))
        ),
        lambda tmp: f"book '{tmp / 'books' / 'headings.txt'}' yields no sentence of 4-60 words",
    ),
    "hotpotqa_record_missing_fields": Case(
        data_prep(
            lambda tmp: hotpotqa_params(
                folder_with(
                    tmp,
                    "hotpotqa",
                    {
                        "dev.json": (
                            '[{"_id": "a1", "question": "Who?", "supporting_facts": [["T", 0]], '
                            '"context": [["T", ["A sentence."]]]}]'
                        )
                    },
                )
                / "dev.json"
            )
        ),
        lambda tmp: (
            f"HotpotQA file '{tmp / 'hotpotqa' / 'dev.json'}', record 0 (id 'a1') lacks the fields ['answer']"
        ),
    ),
    "unknown_task": Case(
        data_prep(lambda tmp: "data_prep.babilong.tasks=[qa9]"),
        lambda tmp: "unknown bAbI task 'qa9'. Fix: use one of ['qa1', 'qa2', 'qa3', 'qa4', 'qa5']",
    ),
    "unknown_length_bucket": Case(
        data_prep(lambda tmp: "data_prep.babilong.eval_lengths=[3k]"),
        lambda tmp: "unknown length bucket '3k'. Fix: use one of ['1k', '4k', '32k'",
    ),
    "parameter_of_wrong_type": Case(
        lambda tmp: ["--pipelines", "train_q", "--params", "train_q.learning.learning_rate=fast"],
        lambda tmp: "learning_rate='fast' must be a finite number",
    ),
    "parameter_of_wrong_sign": Case(
        data_prep(lambda tmp: "data_prep.babilong.episodes_per_task_length=-2"),
        lambda tmp: "data_prep.babilong.episodes_per_task_length=-2 must be a whole number of at least 1",
    ),
    "missing_model_directory": Case(
        lambda tmp: [
            "--pipelines",
            "train_q",
            "--params",
            f"train_q.model.name_or_path={tmp / 'no_such_model'},train_q.resume=false",
        ],
        lambda tmp: f"cannot load the encoder at '{tmp / 'no_such_model'}'",
        data="prepared",
    ),
    "truncated_checkpoint": Case(
        lambda tmp: ["--pipelines", "evaluate", "--params", "evaluate.device=cpu"],
        lambda tmp: "cannot read checkpoint weights '",
        data="trained",
        setup=truncate_checkpoint,
    ),
    "version_never_saved": Case(
        lambda tmp: ["--pipelines", "embed", "--load-versions", "eval_episodes:2020-01-01T00.00.00.000Z"],
        lambda tmp: "eval_episodes has no version '2020-01-01T00.00.00.000Z' (saved: ['",
        data="trained",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLI_CASES))
def test_kedro_run_ends_on_one_clear_error_and_writes_nothing(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case = CLI_CASES[name]
    source = request.getfixturevalue(f"{case.data}_project") if case.data else None
    project = make_project(tmp_path / "project", data_from=source)
    tmp = tmp_path / "inputs"
    tmp.mkdir()
    case.setup(project, tmp)
    before = data_files(project)

    done = kedro_cli(project, *case.args(tmp), env=case.env)

    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("Error: "), done.stderr[-3000:]
    assert case.expected(tmp) in last_line
    assert " Fix: " in last_line
    assert data_files(project) == before  # no partial artifact (nothing at all, from empty)


def test_kedro_run_failing_after_its_first_nodes_removes_what_they_saved(
    trained_project: Path, tmp_path: Path
) -> None:
    """evaluate saves the baselines' traces, then fails on the truncated checkpoint:
    the finished node's saved version goes too."""
    project = make_project(tmp_path / "project", data_from=trained_project)
    truncate_checkpoint(project, tmp_path)
    before = data_files(project)
    with pytest.raises(Exception) as raised:  # Kedro wraps a load's error in DatasetError
        run_stage(project, "evaluate")
    assert "cannot read checkpoint weights" in str(input_error_in(raised.value))
    assert data_files(project) == before  # no baseline_traces version left behind


# In-process: the same error type the command line prints, and data/ unchanged.


def hub_folder(tmp: Path) -> Path:
    folder = tmp / "hub"
    (folder / "1k").mkdir(parents=True)
    (folder / "1k" / "qa1.jsonl").write_text(
        '{"input": "", "question": "Where is Mary?", "target": "bathroom"}\n'
    )
    return folder


def tamper_support(project: Path, tmp: Path) -> None:
    path = latest(project, "eval_episodes.parquet")
    frame = pd.read_parquet(path)
    frame.at[0, "support"] = [999]
    frame.to_parquet(path)


def babi(text: str) -> Callable[[Path], dict]:
    return lambda tmp: {
        "data_prep": {
            "babilong": {"tasks": ["qa1"]},
            "stories": {"source": "babi_files", "babi_dirs": [str(babi_folder(tmp, text))]},
        }
    }


def hotpotqa(text: str) -> Callable[[Path], dict]:
    def params(tmp: Path) -> dict:
        (tmp / "dev.json").write_text(text)
        return {"data_prep": {"benchmarks": ["hotpotqa"], "hotpotqa": {"path": str(tmp / "dev.json")}}}

    return params


def model_folder(files: dict[str, str]) -> Callable[[Path], dict]:
    return lambda tmp: {
        "train_q": {"resume": False, "model": {"name_or_path": str(folder_with(tmp, "model", files))}}
    }


IN_PROCESS_CASES = {
    "empty_babi_file": ("data_prep", babi(""), None, "holds no question lines. Fix:"),
    "question_without_supporting_facts": (
        "data_prep",
        babi(STORY + "3 Where is Mary?\tbathroom\t\n"),
        None,
        ":3: question 'Where is Mary?' has no supporting fact ids. Fix:",
    ),
    "missing_babi_folder": (
        "data_prep",
        lambda tmp: {"data_prep": {"stories": {"source": "babi_files", "babi_dirs": [str(tmp / "nowhere")]}}},
        None,
        "no bAbI file for qa1 train in data_prep.stories.babi_dirs=",
    ),
    "empty_hotpotqa_file": ("data_prep", hotpotqa("  \n"), None, "dev.json' is empty. Fix:"),
    "hotpotqa_file_not_json": ("data_prep", hotpotqa("[{oops"), None, "dev.json' is not JSON"),
    "hub_document_without_sentences": (
        "data_prep",
        lambda tmp: {
            "data_prep": {
                "babilong": {"tasks": ["qa1"], "episodes_from": "hub", "hub_source": str(hub_folder(tmp))}
            }
        },
        None,
        "episode 'babilong-hub/qa1/1k/00000' has no chunks: its document is empty. Fix:",
    ),
    "support_index_outside_the_chunks": (
        "embed",
        lambda tmp: {},
        "trained",
        "support indices [999] are outside its 50 chunks. Fix:",
    ),
    "unknown_train_q_task": (
        "train_q",
        lambda tmp: {"train_q": {"tasks": ["qa7"], "resume": False}},
        "prepared",
        "train_q.tasks has unknown tasks ['qa7']. Fix:",
    ),
    "unknown_device": (
        "train_q",
        lambda tmp: {"train_q": {"device": "tpu9", "resume": False}},
        "prepared",
        "unknown device 'tpu9'. Fix:",
    ),
    "corrupt_model_directory": (
        "train_q",
        model_folder({"config.json": '{"model_type": "bert", "hidden_size": '}),
        "prepared",
        "config.json' is not a valid JSON file.). Fix:",
    ),
    "folder_that_is_no_model": (
        "train_q",
        model_folder({"notes.txt": "weights went missing"}),
        "prepared",
        "cannot load the encoder at '",
    ),
    "checkpoint_every_zero": (
        "train_q",
        lambda tmp: {"train_q": {"checkpoint_every": 0}},
        None,
        "train_q.checkpoint_every=0 must be a whole number of at least 1",
    ),
    "action_encoder_switch_given_as_text": (
        "train_q",
        lambda tmp: {"train_q": {"model": {"frozen_action_encoder": "yes"}}},
        None,
        "train_q.model.frozen_action_encoder='yes' must be true or false",
    ),
    "unknown_action_head": (
        "train_q",
        lambda tmp: {"train_q": {"model": {"action_head": "mlp"}}},
        None,
        "train_q.model.action_head='mlp' must be none or linear",
    ),
    "rotary_fraction_above_one": (
        "train_q",
        lambda tmp: {"train_q": {"model": {"rotary_fraction": 1.5}}},
        None,
        "train_q.model.rotary_fraction=1.5 must be a number from 0 to 1",
    ),
    "lexical_weight_not_a_number": (
        "train_q",
        lambda tmp: {"train_q": {"model": {"lexical_weight": "high"}}},
        None,
        "train_q.model.lexical_weight='high' must be null (no lexical channel) or a number",
    ),
    "fractional_update_count": (
        "train_q",
        lambda tmp: {"train_q": {"learning": {"total_updates": 2.5}}},
        None,
        "total_updates=2.5 must be a whole number",
    ),
    "negative_hotpotqa_mix": (
        "train_q",
        lambda tmp: {"train_q": {"hotpotqa_mix_chunks": -1}},
        None,
        "train_q.hotpotqa_mix_chunks=-1 must be a whole number of at least 0",
    ),
    "count_given_as_text": (
        "train_q",
        lambda tmp: {"train_q": {"validation_questions": "x"}},
        None,
        "train_q.validation_questions='x' must be a whole number",
    ),
    "no_training_processes": (
        "train_q",
        lambda tmp: {"train_q": {"distributed": {"nproc_per_node": 0}}},
        None,
        "train_q.distributed.nproc_per_node=0 must be a whole number of at least 1",
    ),
    "zero_retrieval_steps": (
        "evaluate",
        lambda tmp: {"evaluate": {"max_steps": 0}},
        None,
        "evaluate.max_steps=0 must be a whole number of at least 1",
    ),
    "threshold_given_as_text": (
        "evaluate",
        lambda tmp: {"evaluate": {"stop_threshold": "x"}},
        None,
        "evaluate.stop_threshold='x' must be a finite number",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(IN_PROCESS_CASES))
def test_bad_input_raises_a_clear_error_and_leaves_data_as_it_was(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pipeline, params, data, expected = IN_PROCESS_CASES[name]
    source = request.getfixturevalue(f"{data}_project") if data else None
    project = make_project(tmp_path / "project", data_from=source)
    tmp = tmp_path / "inputs"
    tmp.mkdir()
    if name == "support_index_outside_the_chunks":
        tamper_support(project, tmp)
    before = data_files(project)

    with pytest.raises(QragInputError, match=re.escape(expected)) as raised:
        run_stage(project, pipeline, params(tmp))

    assert " Fix: " in str(raised.value)
    assert data_files(project) == before
