"""report through Kedro: saved metrics and curves -> versioned plots and documents."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest
from kedro.io.core import generate_timestamp

from qrag_pipeline.errors import QragInputError
from tests.reporting.conftest import BUCKETS, metrics_rows

REPORTING = Path("data/08_reporting")
PLOTS = ("report_accuracy_plot.png", "report_training_plot.png", "report_cost_plot.png")
DOCUMENTS = ("report.md", "report.html")


def _save_version(root: Path, name: str, table: pd.DataFrame) -> None:
    """Write a table where its versioned catalog entry looks for it."""
    path = root / REPORTING / name / generate_timestamp() / name
    path.parent.mkdir(parents=True)
    table.to_csv(path, index=False)


def _curves() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "update": [2, 4],
            "train_return": [0.1, 0.2],
            "train_fact_em": [0.0, 0.25],
            "eval_fact_em": [0.2, 0.4],
            "loss": [0.9, 0.7],
        }
    )


def _outputs(root: Path) -> dict[str, list[Path]]:
    return {name: sorted((root / REPORTING / name).glob(f"*/{name}")) for name in (*PLOTS, *DOCUMENTS)}


def test_report_writes_versioned_plots_and_documents(project_copy: Path, run_pipeline) -> None:
    metrics = pd.DataFrame(metrics_rows(BUCKETS))
    _save_version(project_copy, "retrieval_metrics.csv", metrics)
    _save_version(project_copy, "training_curves.csv", _curves())
    run_pipeline("report")

    outputs = _outputs(project_copy)
    assert all(len(paths) == 1 for paths in outputs.values()), outputs
    versions = {paths[0].parent.name for paths in outputs.values()}
    assert len(versions) == 1  # one run, one timestamp for all five
    for name in PLOTS:
        png = outputs[name][0].read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    markdown = outputs["report.md"][0].read_text()
    assert markdown.startswith("# Q-RAG retrieval report\n")
    for name in PLOTS:
        assert f"]({name})" in markdown
    page = outputs["report.html"][0].read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    # the page shows the very PNG files of the run
    assert [base64.b64decode(data) for data in embedded] == [outputs[name][0].read_bytes() for name in PLOTS]
    assert "http://" not in page and "https://" not in page


def test_a_bad_metrics_table_fails_the_run_and_leaves_no_report(project_copy: Path, run_pipeline) -> None:
    metrics = pd.DataFrame(metrics_rows(BUCKETS)).drop(columns="n_episodes")
    _save_version(project_copy, "retrieval_metrics.csv", metrics)
    _save_version(project_copy, "training_curves.csv", _curves())
    message = (
        r"retrieval_metrics table lacks columns \['n_episodes'\].*"
        r"rerun the evaluate pipeline"
    )
    with pytest.raises(QragInputError, match=message):
        run_pipeline("report")
    assert not any(_outputs(project_copy).values())
