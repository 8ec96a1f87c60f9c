"""The report documents: sections, rounding, links, and an HTML page that needs
nothing outside itself."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.reporting.document import (
    MISSING,
    formatted,
    html_report,
    markdown_report,
    report_content,
)
from qrag_pipeline.reporting.plots import figure_png, training_figure

PLOT_FILES = {
    "accuracy": "report_accuracy_plot.png",
    "training": "report_training_plot.png",
    "cost": "report_cost_plot.png",
}


@pytest.fixture
def png(curves: pd.DataFrame) -> bytes:
    return figure_png(training_figure(curves, dpi=20))


def test_the_markdown_holds_every_section_and_links_the_plot_files(
    metrics: pd.DataFrame, curves: pd.DataFrame
) -> None:
    text = markdown_report(report_content(metrics, curves, "Run 7", 3), PLOT_FILES)
    assert text.startswith("# Run 7\n")
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [
        "Run",
        "Headline: ours against the published figures",
        "Full metrics table",
        "Plots",
    ]
    assert "- **methods**: q_rag, tfidf, dense, multistep_dense" in text
    assert "- **questions per method**: 100" in text
    assert "- **training**: 40 updates; held-out fact EM 0.550 at update 40" in text
    for name in PLOT_FILES.values():
        assert f"]({name})" in text
    lines = text.splitlines()
    babilong_rows = [line for line in lines if line.startswith("| babilong |")]
    assert len(babilong_rows) == (metrics.benchmark == "babilong").sum()
    assert "| not measured |" in text


def test_the_html_page_is_self_contained(metrics: pd.DataFrame, curves: pd.DataFrame, png: bytes) -> None:
    content = report_content(metrics, curves, "Run <7>", 3)
    page = html_report(content, {"accuracy": png, "training": png, "cost": png})
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(link|script|iframe)\b", page)
    assert "<title>Run &lt;7&gt;</title>" in page
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == 3
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]) == png
    assert page.count("<table") == 2
    assert "<style>" in page


def test_cells_are_rounded_and_missing_values_marked() -> None:
    table = pd.DataFrame(
        {
            "method": ["q_rag", "dense"],
            "n_episodes": [10, 10],
            "fact_f1@learned": [0.123456, float("nan")],
            "seconds_per_question_steps": [0.000123456, 1.5],
            "ours_q_rag": [0.5, "not measured"],
        }
    )
    cells = formatted(table, 3)
    assert cells.to_dict("list") == {
        "method": ["q_rag", "dense"],
        "n_episodes": ["10", "10"],
        "fact_f1@learned": ["0.123", MISSING],
        "seconds_per_question_steps": ["0.000123", "1.5"],
        "ours_q_rag": ["0.500", "not measured"],
    }


def test_a_bad_metrics_table_stops_the_document(metrics: pd.DataFrame, curves: pd.DataFrame) -> None:
    with pytest.raises(QragInputError, match="retrieval_metrics.*rerun the evaluate"):
        report_content(metrics.iloc[:0], curves, "Run", 3)
