"""Fixtures shared by the whole suite.

Real data written by others lives in ../shared/data next to the checkout (official bAbI
files, Project Gutenberg books, a HotpotQA sample). Tests that need it take the
`shared_data` fixture, which skips them with the reason where that folder is absent;
nothing of it is copied into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("QRAG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data (../shared/data), or a skip saying why it is needed."""
    if not (SHARED_DATA / "babi").is_dir():
        pytest.skip(
            f"real data folder {SHARED_DATA} is absent: this test reads the official "
            "bAbI files / books / HotpotQA sample kept outside the repository "
            "(set QRAG_SHARED_DATA to their folder to run it)"
        )
    return SHARED_DATA
