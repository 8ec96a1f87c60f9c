"""report nodes: thin calls into `qrag_pipeline.reporting`.

Each plot node returns its figure (saved by a `MatplotlibDataset`, which cannot be
loaded back) and the same figure as PNG bytes, which stay in memory for the HTML page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from qrag_pipeline.reporting import document, plots


def plot_accuracy_against_length(
    retrieval_metrics: pd.DataFrame, report: dict[str, Any]
) -> tuple[Figure, bytes]:
    """Each benchmark's headline metric per task, method and context length."""
    figure = plots.accuracy_figure(retrieval_metrics, report["dpi"])
    return figure, plots.figure_png(figure)


def plot_training_curves(training_curves: pd.DataFrame, report: dict[str, Any]) -> tuple[Figure, bytes]:
    """Fact EM, return and loss of the Q-embedder against the update."""
    figure = plots.training_figure(training_curves, report["dpi"])
    return figure, plots.figure_png(figure)


def plot_cost_against_length(retrieval_metrics: pd.DataFrame, report: dict[str, Any]) -> tuple[Figure, bytes]:
    """Seconds per question (chunk encoding share and steps) per method and length."""
    figure = plots.cost_figure(retrieval_metrics, report["dpi"])
    return figure, plots.figure_png(figure)


def write_markdown_report(
    retrieval_metrics: pd.DataFrame,
    training_curves: pd.DataFrame,
    report: dict[str, Any],
) -> str:
    """The report as Markdown, linking the plot files by the names in
    `report.plot_files`."""
    content = document.report_content(retrieval_metrics, training_curves, report["title"], report["decimals"])
    return document.markdown_report(content, report["plot_files"])


def write_html_report(
    retrieval_metrics: pd.DataFrame,
    training_curves: pd.DataFrame,
    report_accuracy_png: bytes,
    report_training_png: bytes,
    report_cost_png: bytes,
    report: dict[str, Any],
) -> str:
    """The report as one self-contained HTML page, the plots embedded."""
    content = document.report_content(retrieval_metrics, training_curves, report["title"], report["decimals"])
    pngs = {
        "accuracy": report_accuracy_png,
        "training": report_training_png,
        "cost": report_cost_png,
    }
    return document.html_report(content, pngs)
