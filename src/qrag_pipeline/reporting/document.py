"""The report as a document: Markdown that links its plot files, and one HTML page
that carries everything in itself (plots as base64 PNG data URIs, inline CSS, no
external resource), to be mailed or opened offline.

Both hold the same sections, in this order: the title, the run's facts, the headline
table against the published figures, the full metrics table (rounded), the plots.

How the Markdown's plot links resolve: each plot is linked by its bare file name
(`report_accuracy_plot.png`), the name of the versioned plot dataset's file. Kedro
writes a versioned dataset to `<filepath>/<timestamp>/<file name>`, and all outputs
of one run share one timestamp, so this run's plots are
`data/08_reporting/<plot file>/<timestamp>/<plot file>` beside
`data/08_reporting/report.md/<timestamp>/report.md`. A node cannot know that
timestamp, so the links resolve once the Markdown and the plots of one timestamp are
in one folder (copy them together); the HTML page needs no such step.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from qrag_pipeline.reporting.facts import run_facts
from qrag_pipeline.reporting.metrics_table import checked_metrics
from qrag_pipeline.reporting.published import headline_table

PLOT_CAPTIONS = {
    "accuracy": "Headline accuracy against context length, per task and method",
    "training": "Training curves of the Q-embedder",
    "cost": "Seconds per question against context length (log-log)",
}
MISSING = "–"
SCALE_NOTE = (
    "Rates are fractions from 0 to 1 on both sides: the published percentages are "
    "divided by 100 (97.8 becomes 0.978). Steps and hours keep their unit (`unit`). "
    "`our_column` is the metrics-table column our figure is (Q-RAG rows only) and "
    '`our_rows` the rows it averages; "not measured" means this run has no such row.'
)
METRICS_NOTE = (
    "One row per benchmark, task, length bucket and method; each column is a metric "
    "and its stop rule (`@T=<T>`: after T fixed steps, `@learned`: Q-RAG's learned "
    "stop, `@oracle`: stop once all supporting facts are found). "
    f"{MISSING} marks a metric that does not apply (a baseline has no learned stop)."
)
PLOTS_NOTE = (
    "Each plot is the PNG file of this run's versioned plot dataset: "
    "`data/08_reporting/<file>/<timestamp of this report>/<file>`."
)
CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1, h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; }
figcaption { font-style: italic; color: #555; }
dt { font-weight: bold; }
dd { margin: 0 0 0.5em 1.5em; }
"""


@dataclass(frozen=True)
class ReportContent:
    """What both documents show, tables already formatted as text."""

    title: str
    facts: list[tuple[str, str]]
    headline: pd.DataFrame
    metrics: pd.DataFrame


def report_content(metrics: pd.DataFrame, curves: pd.DataFrame, title: str, decimals: int) -> ReportContent:
    """The facts and tables of the report, numbers rounded to `decimals`."""
    table = checked_metrics(metrics)
    return ReportContent(
        title=title,
        facts=run_facts(table, curves),
        headline=formatted(headline_table(table), decimals),
        metrics=formatted(table, decimals),
    )


def formatted(table: pd.DataFrame, decimals: int) -> pd.DataFrame:
    """Every cell as text: rates with `decimals` decimals, seconds with `decimals`
    significant digits (a TF-IDF step takes well under a millisecond, which fixed
    decimals would print as 0), a missing value as `MISSING`, text as it is."""

    def cell(value: object, seconds: bool) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return MISSING if pd.isna(value) else str(value)
        if pd.isna(value):
            return MISSING
        if isinstance(value, int):
            return str(value)
        return f"{value:.{decimals}g}" if seconds else f"{value:.{decimals}f}"

    return pd.DataFrame(
        {
            column: [cell(v, str(column).startswith("seconds")) for v in table[column]]
            for column in table.columns
        },
        columns=table.columns,
    )


def markdown_report(content: ReportContent, plot_files: Mapping[str, str]) -> str:
    """The report as Markdown; `plot_files` maps a plot ("accuracy", "training",
    "cost") to its file name, linked as it resolves beside this file (module doc)."""
    facts = "\n".join(f"- **{label}**: {value}" for label, value in content.facts)
    plots = "\n\n".join(
        f"### {PLOT_CAPTIONS.get(key, key)}\n\n![{PLOT_CAPTIONS.get(key, key)}]({name})"
        for key, name in plot_files.items()
    )
    sections = [
        f"# {content.title}",
        f"## Run\n\n{facts}",
        "## Headline: ours against the published figures\n\n"
        f"{SCALE_NOTE}\n\n{_markdown_table(content.headline)}",
        f"## Full metrics table\n\n{METRICS_NOTE}\n\n{_markdown_table(content.metrics)}",
        f"## Plots\n\n{PLOTS_NOTE}\n\n{plots}",
    ]
    return "\n\n".join(sections) + "\n"


def html_report(content: ReportContent, plot_pngs: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page; `plot_pngs` maps a plot to its PNG
    bytes, embedded as data URIs."""
    facts = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>" for label, value in content.facts
    )
    plots = "".join(_html_figure(key, png) for key, png in plot_pngs.items())
    title = html.escape(content.title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n"
        f"<h2>Run</h2>\n<dl>{facts}</dl>\n"
        "<h2>Headline: ours against the published figures</h2>\n"
        f"<p>{html.escape(SCALE_NOTE)}</p>\n{_html_table(content.headline)}\n"
        f"<h2>Full metrics table</h2>\n<p>{html.escape(METRICS_NOTE)}</p>\n"
        f"{_html_table(content.metrics)}\n"
        f"<h2>Plots</h2>\n{plots}\n</body>\n</html>\n"
    )


def _markdown_table(table: pd.DataFrame) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [row([str(c) for c in table.columns]), row(["---"] * len(table.columns))]
    lines += [row(list(values)) for values in table.itertuples(index=False)]
    return "\n".join(lines)


def _html_table(table: pd.DataFrame) -> str:
    body = table.to_html(index=False, escape=True, border=0)
    return f'<div class="scroll">{body}</div>'


def _html_figure(key: str, png: bytes) -> str:
    caption = html.escape(PLOT_CAPTIONS.get(key, key))
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>\n"
    )
