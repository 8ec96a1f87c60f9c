"""kedro-viz shows the project: `kedro viz build` in a scratch copy, the static site
served on 127.0.0.1, rendered by Debian's headless chromium (screenshot + DOM).

Skipped, with the reason, where chromium is not installed (`apt-get install -y
chromium`). Set QRAG_VIZ_SCREENSHOT=/some/file.png to keep the screenshot.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PIPELINES = ("data_prep", "train_q", "embed", "evaluate", "report")
# One node of every pipeline, as kedro-viz labels them in the graph (it shows the
# raw node names: its "pretty name" setting is off by default).
NODES = {
    "data_prep": "build_babilong_eval_episodes",
    "train_q": "train_q_embedder",
    "embed": "embed_training_pools",
    "evaluate": "score_retrieval",
    "report": "write_html_report",
}
WINDOW = (1600, 1300)  # tall enough for the whole __default__ graph at 50% zoom

# Chromium offline and headless: no GPU, no background network, a throw-away profile.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--virtual-time-budget=15000",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)

# kedro-viz keeps its settings in localStorage["KedroViz"]; with them untouched a new
# profile opens on a "new feature" tour whose pop-over hides part of the graph. This
# page (same origin as the site) switches the tour off, then opens the default
# pipeline (`pid`: kedro-viz's query parameter for the selected pipeline).
VIEW_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script>
var state = JSON.parse(localStorage.getItem("KedroViz") || "{}");
state.showFeatureHints = false;
localStorage.setItem("KedroViz", JSON.stringify(state));
location.replace("./?pid=__default__&expandAllPipelines=false");
</script></head><body></body></html>
"""


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install -y chromium): "
            "this test renders kedro-viz's page in headless chromium"
        )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """`folder` served by `python -m http.server` on a free local port (its URL);
    the server is stopped on leaving."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_served(url)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_served(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _render(chromium: str, url: str, *flags: str, timeout_s: float = 300) -> str:
    """Headless chromium on `url` with CHROMIUM_FLAGS, a throw-away profile and
    `flags`: its stdout (the DOM with --dump-dom). Chromium runs in its own process
    group, all of which is killed if it overruns (the timeout is a safety net: on an
    idle machine a run takes a few seconds)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def test_kedro_viz_build_renders_every_pipeline(
    chromium: str,
    project_copy: Path,
    tmp_path: Path,
) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=600,  # a safety net: ~8 s on an idle machine
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (project_copy / "build" / "index.html").is_file()
    assert (project_copy / "build" / "api" / "main").is_file()

    site = project_copy / "build"
    (site / "qrag_view.html").write_text(VIEW_PAGE, encoding="utf-8")
    screenshot = tmp_path / "kedro_viz.png"
    with serving(site) as url:
        # Two runs, each with a fresh profile: --screenshot and --dump-dom together
        # sometimes never exit on a busy machine.
        dom = _render(chromium, url + "qrag_view.html", "--dump-dom")
        _render(chromium, url + "qrag_view.html", f"--screenshot={screenshot}")

    # The graph: one SVG label per node and dataset, every pipeline's nodes among them.
    labels = set(re.findall(r'class="pipeline-node__text"[^>]*>([^<]+)<', dom))
    missing = {p: n for p, n in NODES.items() if n not in labels}
    assert not missing, f"nodes not drawn: {missing}; drawn: {sorted(labels)}"
    assert {"eval_episodes", "q_embedder_checkpoint", "retrieval_metrics"} <= labels
    # The pipeline menu lists every registered pipeline.
    entries = set(re.findall(r"<span>([^<]+)</span>", dom))
    assert set(PIPELINES) <= entries, sorted(entries)
    # The tour pop-over is off, so nothing covers the graph.
    assert "Workflow run status" not in dom

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(Image.open(screenshot).convert("RGB"))
    assert image.shape == (WINDOW[1], WINDOW[0], 3)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"screenshot nearly blank: {len(colours)} colours"
    assert image.std() > 10, "screenshot nearly uniform"

    if keep := os.environ.get("QRAG_VIZ_SCREENSHOT"):
        shutil.copy(screenshot, keep)
