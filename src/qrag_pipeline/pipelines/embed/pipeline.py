"""embed: the training pools and the evaluation episodes -> their chunk embeddings by
the pretrained encoder, each distinct text once (before train_q and evaluate)."""

from kedro.pipeline import Node, Pipeline

from .nodes import embed_chunks_with_pretrained_encoder, embed_training_pools


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                embed_training_pools,
                inputs=[
                    "babi_train_stories",
                    "train_distractor_sentences",
                    "hotpotqa_train_episodes",
                    "params:embed",
                ],
                outputs="training_pool_embeddings",
                name="embed_training_pools",
            ),
            Node(
                embed_chunks_with_pretrained_encoder,
                inputs=["eval_episodes", "params:embed"],
                outputs="pretrained_chunk_embeddings",
                name="embed_chunks_with_pretrained_encoder",
            ),
        ]
    )
