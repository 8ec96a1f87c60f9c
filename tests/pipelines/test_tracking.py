"""Experiment tracking: each stage of a tiny run is an MLflow run in the scratch
project's own SQLite store (conf/base/mlflow.yml's `data/09_tracking/mlflow.db`,
relative to the scratch folder the test runs in), read back here with MLflow's own
client; and what the run leaves behind does not change `make test`'s lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.evaluation import METHODS
from qrag_pipeline.tracking import metric_key
from tests.conftest import PROJECT_ROOT

T = 4  # evaluate.max_steps
REPORT_FILES = {
    "report.html",
    "report.md",
    "report_accuracy_plot.png",
    "report_training_plot.png",
    "report_cost_plot.png",
}


def _latest(root: Path, folder: str, name: str) -> Path:
    return sorted((root / "data" / folder / name).glob(f"*/{name}"))[-1]


def _runs_by_name(client: MlflowClient) -> dict[str, Run]:
    experiment = client.get_experiment_by_name("qrag_pipeline")
    runs = client.search_runs([experiment.experiment_id])
    return {run.info.run_name: run for run in runs}


STAGES = ("data_prep", "embed", "train_q", "evaluate", "report")
LINTED = ("src", "tests", "benchmarks")
"""The folders `make test` lints (Makefile), copied into the scratch project after its run."""


def test_each_stage_is_an_mlflow_run_with_its_parameters_metrics_and_artifacts(
    project_copy: Path, run_pipeline
) -> None:
    for stage in STAGES:
        run_pipeline(stage)
    _assert_lint_unchanged_by_what_the_run_left(project_copy)

    store = project_copy / "data" / "09_tracking" / "mlflow.db"
    assert store.is_file()  # the scratch project's store: the checkout's is untouched
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    runs = _runs_by_name(client)
    assert sorted(runs) == ["data_prep", "embed", "evaluate", "report", "train_q"]
    assert {run.info.status for run in runs.values()} == {"FINISHED"}
    artifacts = Path(client.get_experiment_by_name("qrag_pipeline").artifact_location.removeprefix("file://"))
    assert artifacts == project_copy / "data" / "09_tracking" / "artifacts"

    # parameters: every node's params: input, flattened, tiny's values over base's
    train = runs["train_q"]
    assert train.data.params["train_q.learning.total_updates"] == "4"
    assert train.data.params["train_q.model.num_layers"] == "1"
    assert train.data.params["train_q.learning.gamma"] == "0.99"
    assert runs["data_prep"].data.params["data_prep.babilong.eval_lengths"] == "['1k']"
    assert runs["evaluate"].data.params["evaluate.max_steps"] == str(T)

    # train_q's curve: one history per column, one point per curve row (step = update)
    curves = pd.read_csv(_latest(project_copy, "08_reporting", "training_curves.csv"))
    assert curves["update"].tolist() == [2, 4]
    for column in ("train_return", "eval_fact_em", "loss", "loss_td", "loss_labels", "updates_per_s"):
        history = client.get_metric_history(train.info.run_id, f"train_q.{column}")
        assert [point.step for point in history] == [2, 4], column
        assert [point.value for point in history] == pytest.approx(curves[column].tolist()), column

    # evaluate's headline metric per benchmark, task, length and method, as in the table
    table = pd.read_csv(_latest(project_copy, "08_reporting", "retrieval_metrics.csv"))
    evaluate = runs["evaluate"]
    logged = {k: v for k, v in evaluate.data.metrics.items() if k.startswith("evaluate.")}
    headline = {"babilong": f"fact_em@T={T}", "ruler": f"niah_values@T={T}"}
    expected = {
        metric_key(
            "evaluate",
            row["benchmark"],
            row["task"],
            row["length_bucket"],
            row["method"],
            headline[row["benchmark"]],
        ): row[headline[row["benchmark"]]]
        for _, row in table.iterrows()
    }
    assert len(expected) == 4 * len(METHODS)  # qa1, qa2, two NIAH tasks at 1k; every method
    assert logged == pytest.approx(expected)
    assert f"evaluate.babilong.qa2.1k.q_rag.fact_em_at_T{T}" in logged

    # the metrics table and the report's files are artifacts, equal to the saved versions
    assert _artifact_names(client, evaluate, "evaluate") == {"retrieval_metrics.csv"}
    report = runs["report"]
    assert _artifact_names(client, report, "report") == REPORT_FILES
    downloads = project_copy / "downloads"
    downloads.mkdir()
    downloaded = Path(client.download_artifacts(report.info.run_id, "report/report.html", str(downloads)))
    assert downloaded.read_bytes() == _latest(project_copy, "08_reporting", "report.html").read_bytes()

    # the checkpoint is named, not copied: train_q tags the version it saved, evaluate
    # the version it loaded, and the MLflow store holds no checkpoint file
    checkpoint = _latest(project_copy, "06_models", "q_embedder_checkpoint")
    assert train.data.tags["saved/q_embedder_checkpoint"] == str(checkpoint)
    assert evaluate.data.tags["loaded/q_embedder_checkpoint"] == str(checkpoint)
    assert not list((project_copy / "data" / "09_tracking").rglob("model.safetensors"))


def _assert_lint_unchanged_by_what_the_run_left(project: Path) -> None:
    """A run writes under data/ alone (and kedro-viz's hidden `.viz/` run statistics),
    and `make test`'s two ruff checks pass beside what it left.

    Issue 44: MLflow's store at the project root (./mlflow) made ruff sort `import
    mlflow` as a first-party module, so `make test` failed after `make run`. The
    scratch project has just run every stage; the linted folders are copied in beside
    what the run left, and ruff runs there with the project's own settings.
    """
    left = sorted(path.name for path in project.iterdir())
    assert left == [".viz", "conf", "data", "pyproject.toml", "src"]
    shutil.rmtree(project / "src")
    for folder in LINTED:
        shutil.copytree(PROJECT_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "mlflow").mkdir()  # a store left by a run of the layout before issue 44
    ruff = Path(sys.executable).with_name("ruff")
    for check in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [str(ruff), *check, "--no-cache", *LINTED], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, f"ruff {' '.join(check)}:\n{result.stdout}{result.stderr}"


def _artifact_names(client: MlflowClient, run: Run, folder: str) -> set[str]:
    return {Path(item.path).name for item in client.list_artifacts(run.info.run_id, folder)}


def test_a_run_refused_before_its_first_node_leaves_no_mlflow_run_open(
    project_copy: Path, run_pipeline
) -> None:
    """The input and parameter checks come before kedro-mlflow starts its run: a later
    run in the same process (a notebook, the tests) must not log into a stale one."""
    with pytest.raises(QragInputError, match="no saved version of babi_train_stories"):
        run_pipeline("train_q")
    with pytest.raises(QragInputError, match="evaluate.max_steps=0 must be"):
        run_pipeline("evaluate", params={"evaluate": {"max_steps": 0}})
    assert mlflow.active_run() is None
