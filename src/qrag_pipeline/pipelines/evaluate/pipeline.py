"""evaluate: episodes + embeddings + checkpoint -> retrieval traces and metrics, for
Q-RAG and the untrained baselines alike (the headline metrics also go to the MLflow
run)."""

from kedro.pipeline import Node, Pipeline

from qrag_pipeline.tracking import headline_metrics

from .nodes import retrieve_with_baselines, retrieve_with_q_embedder, score_retrieval


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                retrieve_with_q_embedder,
                inputs=[
                    "eval_episodes",
                    "pretrained_chunk_embeddings",
                    "q_embedder_checkpoint",
                    "params:evaluate",
                ],
                outputs="q_retrieval_traces",
                name="retrieve_with_q_embedder",
            ),
            Node(
                retrieve_with_baselines,
                inputs=[
                    "eval_episodes",
                    "pretrained_chunk_embeddings",
                    "params:evaluate",
                ],
                outputs="baseline_traces",
                name="retrieve_with_baselines",
            ),
            Node(
                score_retrieval,
                inputs=[
                    "eval_episodes",
                    "q_retrieval_traces",
                    "baseline_traces",
                    "q_embedder_checkpoint",
                    "params:evaluate",
                ],
                outputs="retrieval_metrics",
                name="score_retrieval",
            ),
            Node(
                headline_metrics,
                inputs="retrieval_metrics",
                outputs="headline_metrics",
                name="track_headline_metrics",
            ),
        ]
    )
