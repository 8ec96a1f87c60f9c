"""train_q: training pools (and their embeddings) + parameters -> Q-embedder checkpoint
and training curves (also recorded as the MLflow run's metric histories)."""

from kedro.pipeline import Node, Pipeline

from qrag_pipeline.tracking import curve_histories

from .nodes import train_q_embedder_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_q_embedder_node,
                inputs=[
                    "babi_train_stories",
                    "train_distractor_sentences",
                    "hotpotqa_train_episodes",
                    "training_pool_embeddings",
                    "params:train_q",
                ],
                outputs=["q_embedder_checkpoint", "training_curves"],
                name="train_q_embedder",
            ),
            Node(
                curve_histories,
                inputs="training_curves",
                outputs="training_curve_metrics",
                name="track_training_curves",
            ),
        ]
    )
