"""Scratch Kedro projects for tests, run in-process or as `kedro run`.

A project here is conf/ and pyproject.toml copied to a temporary folder (the package is
imported from the checkout); its data/ starts empty or as a copy of a project that
already ran some stages (tests/conftest.py's session fixtures), so that a test suite
pays for data_prep, embed, train_q and evaluate once per worker. `kedro_run` starts the
real command line in a subprocess, as a user would; `run_stage` runs a stage in this
process, where a test can monkeypatch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from kedro.framework.cli.cli import KedroCLI
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRACKING_STORE = Path("data") / "09_tracking"
"""MLflow's store (conf/base/mlflow.yml): it records every run, a failed one too."""

CPU = {"train_q": {"device": "cpu"}, "embed": {"device": "cpu"}, "evaluate": {"device": "cpu"}}
"""Every stage on the CPU: tests compare numbers across runs."""


def make_project(folder: Path, data_from: Path | None = None) -> Path:
    """A scratch project in `folder`; its data/ copied from project `data_from`
    (without train_q's run folders: a tiny run's checkpoint holds 0.5 GB of state; and
    without MLflow's store, so that each project records its own runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "conf", folder / "conf")
    (folder / "conf" / "local").mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", folder)
    (folder / "src").mkdir()
    if data_from is None:
        (folder / "data").mkdir()
    else:
        left_out = shutil.ignore_patterns("train_q_runs", TRACKING_STORE.name)
        shutil.copytree(data_from / "data", folder / "data", ignore=left_out)
    return folder


@contextlib.contextmanager
def inside(project: Path) -> Iterator[None]:
    """The project as the working directory (Kedro resolves data/ paths from it)."""
    previous = Path.cwd()
    os.chdir(project)
    try:
        bootstrap_project(project)
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """One torch thread for the block (as `kedro_env` gives the subprocesses), so that
    numbers compare across runs: the order of a sum split across threads can change its
    last bit; tiny matrices gain nothing from two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_stage(
    project: Path,
    pipeline: str,
    params: dict[str, Any] | None = None,
    load_versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`kedro run --env tiny --pipelines <pipeline>` in this process: CPU everywhere,
    one torch thread."""
    with (
        single_torch_thread(),
        inside(project),
        KedroSession.create(
            project_path=project, env="tiny", runtime_params=_merged(CPU, params or {})
        ) as session,
    ):
        return session.run(pipeline_names=[pipeline], load_versions=load_versions)


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


def kedro_cli(project: Path, *args: str, env: str = "tiny") -> subprocess.CompletedProcess[str]:
    """`kedro run --env <env> <args>` in this process, as the command line runs it:
    Kedro's CLI with the project's CLI hooks, and an exception that escapes it handed
    to `sys.excepthook` as the interpreter hands it before exiting with status 1. Its
    stdout holds the run's log records, its stderr what the excepthook printed. A
    subprocess (`kedro_run`) pays ~10 s of imports; this, none."""
    hook = sys.excepthook
    out, err = io.StringIO(), io.StringIO()
    log = logging.StreamHandler(out)
    try:
        with (
            single_torch_thread(),
            inside(project),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            cli = KedroCLI(project)
            logging.getLogger().addHandler(log)
            code = 0
            try:
                cli.main(["run", "--env", env, *args])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except Exception as error:  # noqa: BLE001 - what escapes `kedro run` entirely
                sys.excepthook(type(error), error, error.__traceback__)
                code = 1
    finally:
        logging.getLogger().removeHandler(log)
        sys.excepthook = hook
    return subprocess.CompletedProcess(
        ["kedro", "run", "--env", env, *args], code, out.getvalue(), err.getvalue()
    )


def latest(project: Path, name: str) -> Path:
    """The newest saved version of catalog file `name` (e.g. eval_episodes.parquet)."""
    found = sorted(project.glob(f"data/*/{name}/*/{name}"))
    assert found, f"no saved version of {name}"
    return found[-1]


NO_RUN_FOLDER = {"train_q": {"resume": False}}
"""train_q without its periodic checkpoints, where a test needs only the trained model."""
