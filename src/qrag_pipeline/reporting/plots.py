"""The report's figures, drawn on the Agg backend without pyplot.

Each function returns a `matplotlib.figure.Figure` made directly (not through pyplot),
so nothing is shown, no global figure list grows across runs, and the caller decides
where it goes (a Kedro `MatplotlibDataset`, a PNG embedded in the HTML page).

Length buckets are placed at their nominal token counts on a log axis. A bucket that
is a setting rather than a length ("distractor", HotpotQA's) has no place on that
axis: in a panel that also has lengths it is left out and named in a note on the
panel (the tables still hold its numbers); a panel with only such settings is drawn
over categorical x positions, one point per method and setting.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from qrag_pipeline.reporting.curves_table import checked_curves
from qrag_pipeline.reporting.metrics_table import (
    bucket_tokens,
    checked_metrics,
    headline_column,
    methods,
    panels,
)

PANEL_COLUMNS = 4
DODGE_WIDTH = 0.4
"""The width, in categories, over which a categorical panel spreads its series."""
LOG_DODGE_DECADES = 0.1
"""On a log axis the same spread, in decades (0.4 category widths -> about 10% of x)."""
MARKERS = ("o", "s", "^", "D", "v", "P")
"""One marker per method, so that series with equal values remain distinguishable."""
LENGTH_LABEL = "context length (tokens, log scale)"
SETTING_LABEL = "setting (no token length)"


@dataclass(frozen=True)
class LengthAxis:
    """Where each length bucket of a panel goes on x, and the buckets left out."""

    positions: dict[str, float]
    log: bool
    skipped: tuple[str, ...]


def length_axis(buckets: Sequence[str]) -> LengthAxis:
    """Token counts on a log axis when any bucket is a length, else categories."""
    tokens = {bucket: bucket_tokens(bucket) for bucket in dict.fromkeys(buckets)}
    numeric = {bucket: float(t) for bucket, t in tokens.items() if t is not None}
    if numeric:
        skipped = tuple(bucket for bucket in tokens if bucket not in numeric)
        return LengthAxis(numeric, True, skipped)
    return LengthAxis({b: float(i) for i, b in enumerate(tokens)}, False, ())


def accuracy_figure(metrics: pd.DataFrame, dpi: int = 100) -> Figure:
    """Headline accuracy against context length: one panel per (benchmark, task), one
    line per method.

    The metric is the benchmark's headline (BabiLong and HotpotQA: fact EM@T; RULER:
    NIAH values found@T, with T read from the columns), named on each panel's y axis.
    """
    table = checked_metrics(metrics)
    keys = panels(table)
    figure, axes = _grid(len(keys), dpi)
    colours = _colours(methods(table))
    for ax, (benchmark, task) in zip(axes, keys, strict=True):
        rows = table[(table["benchmark"] == benchmark) & (table["task"] == task)]
        column = headline_column(table, benchmark)
        ax.set_title(f"{benchmark} {task}")
        if column is None:
            _note(ax, "no headline metric in the metrics table")
            ax.set_ylabel("headline metric")
            continue
        axis = length_axis(list(rows["length_bucket"]))
        for slot, (method, colour) in enumerate(colours.items()):
            of_method = rows[rows["method"] == method]
            offset = _dodge(slot, len(colours))
            points = _points(of_method, column, axis, offset)
            marker = MARKERS[slot % len(MARKERS)]
            _draw(ax, points, axis, marker=marker, color=colour, label=method)
        _set_length_axis(ax, axis)
        ax.set_ylabel(column)
        ax.set_ylim(-0.05, 1.05)
    _figure_legend(figure, axes)
    figure.suptitle(f"Headline accuracy against context length ({_headlines(table)})")
    return figure


def cost_figure(metrics: pd.DataFrame, dpi: int = 100) -> Figure:
    """Seconds per question against context length, log-log: one panel per benchmark,
    for each method the chunk-encoding share (dashed) and the steps (solid).

    Tasks of one length are pooled, weighted by their question counts. Zero times
    (TF-IDF has no encoding pass) cannot sit on a log axis and are not drawn.
    """
    table = checked_metrics(metrics)
    benchmarks = list(dict.fromkeys(table["benchmark"]))
    figure, axes = _grid(len(benchmarks), dpi)
    colours = _colours(methods(table))
    parts = (
        ("seconds_per_question_steps", "steps", "-", "o"),
        ("seconds_per_question_encode", "encode share", "--", "s"),
    )
    series = [(m, c, *part) for m, c in colours.items() for part in parts]
    for ax, benchmark in zip(axes, benchmarks, strict=True):
        rows = _pooled_cost(table[table["benchmark"] == benchmark])
        axis = length_axis(list(rows["length_bucket"]))
        for slot, (method, colour, column, part, style, marker) in enumerate(series):
            of_method = rows[rows["method"] == method]
            points = _points(of_method, column, axis, _dodge(slot, len(series)))
            _draw(
                ax,
                [point for point in points if point[1] > 0],
                axis,
                color=colour,
                linestyle=style,
                marker=marker,
                label=f"{method} {part}",
            )
        _set_length_axis(ax, axis)
        ax.set_yscale("log")
        ax.set_title(f"{benchmark}: seconds per question")
        ax.set_ylabel("seconds per question (log scale)")
    _figure_legend(figure, axes)
    figure.suptitle(
        "Cost against context length: seconds per question (solid: steps, dashed: share of chunk encoding)"
    )
    return figure


def training_figure(curves: pd.DataFrame, dpi: int = 100) -> Figure:
    """The Q-embedder's training curves against the update: fact EM on the held-out
    questions and on the training episodes and the mean training return on one panel,
    the loss on the other, with its TD and label terms where the curve has them.
    Evaluation runs every few updates only, so its NaN rows are dropped, not drawn as
    gaps."""
    table = checked_curves(curves)
    figure = _new_figure((11.0, 4.0), dpi)
    rates, loss = figure.subplots(1, 2)
    for column, marker in (
        ("eval_fact_em", "o"),
        ("train_fact_em", "."),
        ("train_return", ""),
    ):
        points = table[["update", column]].dropna()
        rates.plot(points["update"], points[column], marker=marker, label=column)
    rates.set_title("fact EM and return during training")
    rates.set_xlabel("update")
    rates.set_ylabel("fact EM (fraction) / mean return")
    rates.legend(fontsize="small")
    for column, style in (("loss", "-"), ("loss_td", "--"), ("loss_labels", ":")):
        if column in table.columns:
            points = table[["update", column]].dropna()
            loss.plot(points["update"], points[column], linestyle=style, label=column)
    loss.set_title("loss during training")
    loss.set_xlabel("update")
    loss.set_ylabel("loss (TD + weight * label term)")
    loss.legend(fontsize="small")
    figure.suptitle("Training curves of the Q-embedder")
    return figure


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes at its own dpi, as `MatplotlibDataset` writes it with
    `format: png` (both leave the dpi to the figure): the page shows the files."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _new_figure(size: tuple[float, float], dpi: int) -> Figure:
    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _grid(count: int, dpi: int) -> tuple[Figure, list[Axes]]:
    """A figure with exactly `count` panels, `PANEL_COLUMNS` to a row."""
    columns = min(count, PANEL_COLUMNS)
    rows = math.ceil(count / columns)
    figure = _new_figure((4.2 * columns, 3.4 * rows + 0.8), dpi)
    grid = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for spare in grid[count:]:
        figure.delaxes(spare)
    return figure, grid[:count]


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: f"C{index % 10}" for index, name in enumerate(names)}


def _points(rows: pd.DataFrame, column: str, axis: LengthAxis, offset: float) -> list[tuple[float, float]]:
    """(x, value) of the rows placed on the axis, in x order, missing values left out;
    x moves by `offset` (on a log axis by that fraction of a decade), so methods with
    equal values stay visible side by side."""
    points = [
        (_shifted(axis.positions[bucket], offset, axis.log), float(value))
        for bucket, value in zip(rows["length_bucket"], rows[column], strict=True)
        if bucket in axis.positions and not pd.isna(value)
    ]
    return sorted(points)


def _shifted(x: float, offset: float, log: bool) -> float:
    return x * 10 ** (offset * LOG_DODGE_DECADES) if log else x + offset


def _dodge(slot: int, slots: int) -> float:
    """The categorical x offset of series `slot` of `slots`, centred on the category."""
    return (slot - (slots - 1) / 2) * DODGE_WIDTH / max(slots - 1, 1)


def _draw(ax: Axes, points: list[tuple[float, float]], axis: LengthAxis, **style: Any) -> None:
    """One series: joined over lengths; unjoined points over categories, whose order
    means nothing."""
    if not points:
        return
    x, y = zip(*points, strict=True)
    ax.plot(x, y, **(style | ({} if axis.log else {"linestyle": "none"})))


def _set_length_axis(ax: Axes, axis: LengthAxis) -> None:
    """Ticks at the buckets, labelled by their names (set after the scale, which would
    otherwise replace them with powers of ten)."""
    if axis.log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(LENGTH_LABEL)
    else:
        ax.set_xlim(-0.5, len(axis.positions) - 0.5)
        ax.set_xlabel(SETTING_LABEL)
    ax.set_xticks(list(axis.positions.values()), list(axis.positions))
    if axis.skipped:
        _note(ax, "not plotted: " + ", ".join(axis.skipped))


def _note(ax: Axes, text: str) -> None:
    ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize="small", color="0.4")


def _figure_legend(figure: Figure, axes: Sequence[Axes]) -> None:
    """One legend for all panels (each line's label once), below the titles."""
    labelled: dict[str, object] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for label, handle in zip(labels, handles, strict=True):
            labelled.setdefault(label, handle)
    if labelled:
        figure.legend(
            list(labelled.values()),
            list(labelled),
            loc="outside lower center",
            ncols=min(len(labelled), 4),
            fontsize="small",
        )


def _headlines(table: pd.DataFrame) -> str:
    names = [
        f"{benchmark}: {headline_column(table, benchmark) or 'none'}"
        for benchmark in dict.fromkeys(table["benchmark"])
    ]
    return "; ".join(names)


def _pooled_cost(rows: pd.DataFrame) -> pd.DataFrame:
    """Seconds per question per (length, method) over the tasks, weighted by their
    questions."""
    columns = ["seconds_per_question_encode", "seconds_per_question_steps"]
    weighted = rows[columns].mul(rows["n_episodes"], axis=0)
    weighted[["length_bucket", "method", "n_episodes"]] = rows[["length_bucket", "method", "n_episodes"]]
    sums = weighted.groupby(["length_bucket", "method"], sort=False).sum().reset_index()
    sums[columns] = sums[columns].div(sums["n_episodes"], axis=0)
    return sums
