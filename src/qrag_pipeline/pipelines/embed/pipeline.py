"""embed: evaluation episodes + an encoder -> chunk embeddings per episode set."""

from kedro.pipeline import Node, Pipeline

from .nodes import embed_chunks_with_pretrained_encoder, embed_chunks_with_q_embedder


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                embed_chunks_with_pretrained_encoder,
                inputs=["eval_episodes", "params:embed"],
                outputs="pretrained_chunk_embeddings",
                name="embed_chunks_with_pretrained_encoder",
            ),
            Node(
                embed_chunks_with_q_embedder,
                inputs=[
                    "eval_episodes",
                    "q_embedder_checkpoint",
                    "params:embed",
                ],
                outputs="q_chunk_embeddings",
                name="embed_chunks_with_q_embedder",
            ),
        ]
    )
