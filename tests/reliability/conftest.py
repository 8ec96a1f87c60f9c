"""Scratch Kedro projects for the reliability tests, run in-process or as `kedro run`.

A project here is conf/ and pyproject.toml copied to a temporary folder (the package is
imported from the checkout); its data/ starts empty or as a copy of a project that
already ran some stages, so that each test pays for data_prep, embed and train_q at
most once per session. `kedro_run` starts the real command line in a subprocess, as a user
would; `run_stage` runs a stage in this process, where a test can monkeypatch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from qrag_pipeline.episodes import Episode
from qrag_pipeline.rl.environment import EpisodeSampler
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.training_data import babilong_training_data
from tests.conftest import PROJECT_ROOT

CPU = {"train_q": {"device": "cpu"}, "embed": {"device": "cpu"}, "evaluate": {"device": "cpu"}}
"""Every stage on the CPU: the reliability tests compare numbers across runs."""


def make_project(folder: Path, data_from: Path | None = None) -> Path:
    """A scratch project in `folder`; its data/ copied from project `data_from`
    (without train_q's run folders: a tiny run's checkpoint holds 0.5 GB of state)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "conf", folder / "conf")
    (folder / "conf" / "local").mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", folder)
    (folder / "src").mkdir()
    if data_from is None:
        (folder / "data").mkdir()
    else:
        shutil.copytree(data_from / "data", folder / "data", ignore=shutil.ignore_patterns("train_q_runs"))
    return folder


@contextmanager
def inside(project: Path) -> Iterator[None]:
    """The project as the working directory (Kedro resolves data/ paths from it)."""
    previous = Path.cwd()
    os.chdir(project)
    try:
        bootstrap_project(project)
        yield
    finally:
        os.chdir(previous)


def run_stage(
    project: Path,
    pipeline: str,
    params: dict[str, Any] | None = None,
    load_versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`kedro run --env tiny --pipelines <pipeline>` in this process: CPU everywhere,
    one torch thread (as `kedro_env` gives the subprocesses, so that their numbers
    compare: the order of a sum split across threads can change its last bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with (
            inside(project),
            KedroSession.create(
                project_path=project, env="tiny", runtime_params=_merged(CPU, params or {})
            ) as session,
        ):
            return session.run(pipeline_names=[pipeline], load_versions=load_versions)
    finally:
        torch.set_num_threads(threads)


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def kedro_env() -> dict[str, str]:
    """The environment of a `kedro run` subprocess: offline, no telemetry, one torch
    thread (see `run_stage`), and wide log lines (rich wraps at 80 columns otherwise,
    splitting the messages the tests look for)."""
    return {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "COLUMNS": "400",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def kedro_command(*args: str, env: str = "tiny") -> list[str]:
    return [sys.executable, "-m", "kedro", "run", "--env", env, *args]


def kedro_run(
    project: Path, *args: str, env: str = "tiny", **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`kedro run --env <env> <args>` as a user types it, in `project`."""
    return subprocess.run(
        kedro_command(*args, env=env),
        cwd=project,
        env={**kedro_env(), **kwargs.pop("env_extra", {})},
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 900),
        **kwargs,
    )


def latest(project: Path, name: str) -> Path:
    """The newest saved version of catalog file `name` (e.g. eval_episodes.parquet)."""
    found = sorted(project.glob(f"data/*/{name}/*/{name}"))
    assert found, f"no saved version of {name}"
    return found[-1]


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project where data_prep and embed ran (tiny), ready to train: copy its data/
    rather than rerun them."""
    project = make_project(tmp_path_factory.mktemp("prepared") / "project")
    run_stage(project, "data_prep")
    run_stage(project, "embed")
    return project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory, prepared_project: Path) -> Path:
    """A project where data_prep, embed and train_q ran (tiny, CPU)."""
    project = make_project(tmp_path_factory.mktemp("trained") / "project", data_from=prepared_project)
    run_stage(project, "train_q", NO_RUN_FOLDER)
    return project


@pytest.fixture
def training_data() -> tuple[EpisodeSampler, list[Episode]]:
    """Tiny qa1 episodes to train on (sampler) and to validate with, for `train_tiny`."""
    samples = generate_babi_samples("qa1", 12, seed=1)
    return babilong_training_data(samples, generate_prose(1, 40, seed=2), ["qa1"], 12, 2, seed=3)


NO_RUN_FOLDER = {"train_q": {"resume": False}}
"""train_q without its periodic checkpoints, where a test needs only the trained model."""


@pytest.fixture(scope="session", autouse=True)
def _remove_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Delete the session's models at its end: pytest keeps the last three sessions'
    temporary folders, a tiny model is 0.1 GB and a training checkpoint 0.5 GB."""
    yield
    for models in tmp_path_factory.getbasetemp().glob("**/data/06_models"):
        shutil.rmtree(models, ignore_errors=True)
