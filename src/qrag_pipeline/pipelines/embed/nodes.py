"""embed nodes: thin calls into `qrag_pipeline.retrieval.embeddings`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from qrag_pipeline.devices import resolve_device
from qrag_pipeline.episodes import episodes_from_frame
from qrag_pipeline.pools import documents_from_frame, samples_from_frame
from qrag_pipeline.retrieval.embeddings import (
    EpisodeEmbeddings,
    embed_episodes,
    embed_texts,
)
from qrag_pipeline.retrieval.sharded_encoding import (
    EncoderSpec,
    ExecutorSettings,
    ShardedEncoder,
)
from qrag_pipeline.training_data import training_pool_texts


def embed_training_pools(
    train_stories: pd.DataFrame,
    train_distractors: pd.DataFrame,
    hotpotqa_train_episodes: pd.DataFrame,
    embed: dict[str, Any],
) -> EpisodeEmbeddings:
    """Every text training episodes are made of, embedded once by the pretrained
    encoder: a frozen action encoder looks its chunks up here at each reset instead of
    encoding them, in every train_q run on these pools."""
    texts = training_pool_texts(
        samples_from_frame(train_stories),
        documents_from_frame(train_distractors),
        episodes_from_frame(hotpotqa_train_episodes),
    )
    return embed_texts(_encoder(embed), texts, embed["dtype"], embed["progress"])


def embed_chunks_with_pretrained_encoder(
    eval_episodes: pd.DataFrame, embed: dict[str, Any]
) -> EpisodeEmbeddings:
    """The evaluation chunks embedded by the pretrained encoder, each text once.

    One matrix serves the dense baselines and every Q-embedder checkpoint whose action
    encoder is frozen (each applies its own head); it records the encoder, so that
    evaluate embeds the questions with the same one.
    """
    episodes = episodes_from_frame(eval_episodes)
    return embed_episodes(_encoder(embed), episodes, embed["dtype"], embed["progress"])


def _encoder(embed: dict[str, Any]) -> ShardedEncoder:
    """The pretrained encoder on `embed.backend`, encoding shards of texts through
    `embed.executor` (resumable from `embed.work_dir`; finished shards kept and reused
    in `embed.cache_dir` when it is set)."""
    spec = EncoderSpec.of(
        embed["encoder"], embed["backend"], embed["onnx_cache"], str(resolve_device(embed["device"]))
    )
    return ShardedEncoder(spec, ExecutorSettings(**embed["executor"]), embed["work_dir"], embed["cache_dir"])
