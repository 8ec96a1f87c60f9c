"""report: the metrics table and the training curves -> three plots, and the report
as Markdown and as one self-contained HTML page (all versioned, data/08_reporting)."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    plot_accuracy_against_length,
    plot_cost_against_length,
    plot_training_curves,
    write_html_report,
    write_markdown_report,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plot_accuracy_against_length,
                inputs=["retrieval_metrics", "params:report"],
                outputs=["report_accuracy_plot", "report_accuracy_png"],
                name="plot_accuracy_against_length",
            ),
            Node(
                plot_training_curves,
                inputs=["training_curves", "params:report"],
                outputs=["report_training_plot", "report_training_png"],
                name="plot_training_curves",
            ),
            Node(
                plot_cost_against_length,
                inputs=["retrieval_metrics", "params:report"],
                outputs=["report_cost_plot", "report_cost_png"],
                name="plot_cost_against_length",
            ),
            Node(
                write_markdown_report,
                inputs=["retrieval_metrics", "training_curves", "params:report"],
                outputs="report_markdown",
                name="write_markdown_report",
            ),
            Node(
                write_html_report,
                inputs=[
                    "retrieval_metrics",
                    "training_curves",
                    "report_accuracy_png",
                    "report_training_png",
                    "report_cost_png",
                    "params:report",
                ],
                outputs="report_html",
                name="write_html_report",
            ),
        ]
    )
