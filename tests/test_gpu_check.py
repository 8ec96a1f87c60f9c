"""benchmarks/gpu_check.py without a GPU: it runs nothing, says why and exits with 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.mark.slow
def test_gpu_check_without_a_visible_gpu_says_so_and_exits_2() -> None:
    # no GPU is visible to the script even on a GPU machine, so this stays a check of
    # the refusal, not a run of the check itself
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no CUDA GPU is visible to torch" in done.stderr and "Fix:" in done.stderr
    assert "Traceback" not in done.stderr
