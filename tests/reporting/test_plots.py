"""The report's figures, checked through their artists: panels, scales, labels, data."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.reporting.plots import (
    accuracy_figure,
    cost_figure,
    figure_png,
    training_figure,
)
from tests.reporting.conftest import METHODS, metrics_rows


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def _line(ax, label: str):
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return line


def _cell(metrics: pd.DataFrame, column: str, **where: str) -> float:
    rows = metrics
    for name, value in where.items():
        rows = rows[rows[name] == value]
    return float(rows[column].item())


def test_accuracy_has_a_log_length_panel_per_task_and_a_line_per_method(
    metrics: pd.DataFrame,
) -> None:
    figure = accuracy_figure(metrics)
    assert isinstance(figure, Figure)
    axes = figure.get_axes()
    assert [ax.get_title() for ax in axes] == [
        "babilong qa2",
        "babilong qa3",
        "ruler single_1",
        "ruler multikey_1",
    ]
    for ax in axes:
        assert ax.get_xscale() == "log"
        assert _labels(ax) == list(METHODS)
        assert len({line.get_marker() for line in ax.get_lines()}) == len(METHODS)
        assert "log scale" in ax.get_xlabel()
    ylabels = [ax.get_ylabel() for ax in axes]
    assert ylabels == ["fact_em@T=4"] * 2 + ["niah_values@T=4"] * 2
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["1k", "32k", "1M"]
    q_rag = _line(axes[1], "q_rag")
    assert list(q_rag.get_xdata()) == pytest.approx([1_000, 32_000, 1_000_000], rel=0.05)
    others = [list(_line(axes[1], method).get_xdata()) for method in METHODS if method != "q_rag"]
    assert all(x != list(q_rag.get_xdata()) for x in others), "equal values must not hide each other"
    assert list(q_rag.get_ydata()) == [
        _cell(metrics, "fact_em@T=4", task="qa3", length_bucket=length, method="q_rag")
        for length in ("1k", "32k", "1M")
    ]
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == list(METHODS)
    title = figure.get_suptitle()
    assert "babilong: fact_em@T=4" in title and "ruler: niah_values@T=4" in title


def test_a_setting_without_length_is_a_categorical_panel_or_a_note() -> None:
    only = pd.DataFrame(metrics_rows({"hotpotqa": {"hotpotqa": ("distractor",)}}))
    (ax,) = accuracy_figure(only).get_axes()
    assert ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["distractor"]
    assert _labels(ax) == list(METHODS)
    both = {"hotpotqa": {"hotpotqa": ("32k", "distractor")}}
    mixed = pd.DataFrame(metrics_rows(both))
    (ax,) = accuracy_figure(mixed).get_axes()
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["not plotted: distractor"]
    assert all(len(line.get_xdata()) == 1 for line in ax.get_lines())


def test_a_missing_headline_column_falls_back_to_fact_em(metrics: pd.DataFrame) -> None:
    axes = accuracy_figure(metrics.drop(columns="niah_values@T=4")).get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["fact_em@T=4"] * 4


def test_cost_is_log_log_with_encoding_and_steps_per_method(
    metrics: pd.DataFrame,
) -> None:
    figure = cost_figure(metrics)
    axes = figure.get_axes()
    assert [ax.get_title() for ax in axes] == [
        "babilong: seconds per question",
        "ruler: seconds per question",
    ]
    for ax in axes:
        assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
        assert "seconds per question" in ax.get_ylabel()
        # TF-IDF has no encoding pass: a zero has no place on a log axis
        assert _labels(ax) == [
            f"{method} {part}"
            for method in METHODS
            for part in ("steps", "encode share")
            if (method, part) != ("tfidf", "encode share")
        ]
    ruler = metrics[(metrics.benchmark == "ruler") & (metrics.method == "q_rag")]
    at_4k = ruler[ruler.length_bucket == "4k"]["seconds_per_question_steps"].mean()
    assert _line(axes[1], "q_rag steps").get_ydata()[0] == pytest.approx(at_4k)


def test_training_curves_drop_the_updates_without_evaluation(
    curves: pd.DataFrame,
) -> None:
    figure = training_figure(curves.drop(columns=["loss_td", "loss_labels"]))
    rates, loss = figure.get_axes()
    assert _labels(rates) == ["eval_fact_em", "train_fact_em", "train_return"]
    assert list(_line(rates, "eval_fact_em").get_xdata()) == [20, 40]
    assert list(_line(rates, "train_return").get_ydata()) == [0.1, 0.3, 0.5, 0.6]
    assert _labels(loss) == ["loss"]  # a curve from before the label term: no terms
    assert rates.get_xlabel() == loss.get_xlabel() == "update"
    assert rates.get_title() and loss.get_title() and "label term" in loss.get_ylabel()
    assert figure.get_suptitle() == "Training curves of the Q-embedder"


def test_the_loss_panel_draws_the_td_and_label_terms_where_the_curve_has_them(
    curves: pd.DataFrame,
) -> None:
    _, loss = training_figure(curves).get_axes()
    assert _labels(loss) == ["loss", "loss_td", "loss_labels"]
    assert list(_line(loss, "loss_labels").get_ydata()) == [0.2, 0.1, 0.05, 0.02]


def test_bad_training_curves_name_the_table_and_the_fix(curves: pd.DataFrame) -> None:
    empty = r"training_curves table is empty.*train_q"
    with pytest.raises(QragInputError, match=empty):
        training_figure(curves.iloc[:0])
    with pytest.raises(QragInputError, match=r"lacks columns \['loss'\]"):
        training_figure(curves.drop(columns="loss"))


def test_figures_render_to_png_at_their_dpi(curves: pd.DataFrame) -> None:
    png = figure_png(training_figure(curves, dpi=50))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(png[16:20], "big")
    assert width == 11 * 50  # 11 inches wide at 50 dpi
