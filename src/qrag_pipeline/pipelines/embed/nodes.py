"""embed nodes: thin calls into `qrag_pipeline.retrieval.embeddings`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.episodes import episodes_from_frame
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings, embed_episodes
from qrag_pipeline.training import resolve_device


def embed_chunks_with_pretrained_encoder(
    eval_episodes: pd.DataFrame, embed: dict[str, Any]
) -> EpisodeEmbeddings:
    """The evaluation chunks embedded by the pretrained encoder, each text once.

    These are the dense baselines' chunk vectors; they record the encoder, so that
    evaluate embeds the questions with the same one.
    """
    device = resolve_device(embed["device"])
    encoder = TextEncoder.from_pretrained(**embed["encoder"]).to(device)
    episodes = episodes_from_frame(eval_episodes)
    return embed_episodes(encoder, episodes, embed["dtype"], embed["progress"])


def embed_chunks_with_q_embedder(
    eval_episodes: pd.DataFrame,
    q_embedder_checkpoint: Checkpoint,
    embed: dict[str, Any],
) -> EpisodeEmbeddings:
    """The evaluation chunks embedded by the trained checkpoint's action encoder.

    Chunk embeddings do not depend on the question or on what was retrieved, so Q-RAG
    computes them once per chunk here and only re-rotates them at each step.
    """
    network = q_embedder_checkpoint.build_network(resolve_device(embed["device"]))
    episodes = episodes_from_frame(eval_episodes)
    return embed_episodes(
        network.action_encoder, episodes, embed["dtype"], embed["progress"]
    )
