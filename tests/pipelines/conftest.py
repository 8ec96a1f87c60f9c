"""Run the project's pipelines in a scratch copy, so tests never touch ./data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """conf/ and pyproject.toml copied to a scratch folder that is the cwd.

    Its src/ stays empty: the package is imported from the checkout.
    """
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf")
    (tmp_path / "conf" / "local").mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    bootstrap_project(tmp_path)
    return tmp_path


@pytest.fixture
def run_pipeline(project_copy: Path) -> Callable[..., dict]:
    """`run_pipeline("data_prep", env="tiny", params={...})` in the scratch project."""

    def run(pipeline: str, env: str = "tiny", params: dict | None = None) -> dict:
        with KedroSession.create(project_path=project_copy, env=env, runtime_params=params) as session:
            return session.run(pipeline_names=[pipeline])

    return run
