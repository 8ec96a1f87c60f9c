"""evaluate nodes: thin calls into `qrag_pipeline.evaluation`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from qrag_pipeline import evaluation
from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.episodes import episodes_from_frame
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings


def retrieve_with_q_embedder(
    eval_episodes: pd.DataFrame,
    pretrained_chunk_embeddings: EpisodeEmbeddings,
    q_embedder_checkpoint: Checkpoint,
    evaluate: dict[str, Any],
) -> pd.DataFrame:
    """Q-RAG's traces: T greedy steps per question, every pick's Q value kept so
    that scoring can apply any stop rule afterwards. A frozen action encoder scores
    the pretrained chunk embeddings themselves; the paper's trained one embeds the
    chunks first. The states are cut to the chunk budget the network was trained
    with (its checkpoint's)."""
    network = q_embedder_checkpoint.build_network(resolve_device(evaluate["device"]))
    return evaluation.q_retrieval_traces(
        network, episodes_from_frame(eval_episodes), pretrained_chunk_embeddings, evaluate
    )


def retrieve_with_baselines(
    eval_episodes: pd.DataFrame,
    pretrained_chunk_embeddings: EpisodeEmbeddings,
    evaluate: dict[str, Any],
) -> pd.DataFrame:
    """TF-IDF, dense and multi-step dense traces with the same T as Q-RAG, questions
    embedded by the encoder that embedded the chunks."""
    return evaluation.baseline_retrieval_traces(
        episodes_from_frame(eval_episodes), pretrained_chunk_embeddings, evaluate
    )


def score_retrieval(
    eval_episodes: pd.DataFrame,
    q_retrieval_traces: pd.DataFrame,
    baseline_traces: pd.DataFrame,
    q_embedder_checkpoint: Checkpoint,
    evaluate: dict[str, Any],
) -> pd.DataFrame:
    """The metrics table of all methods; an LLM reader's answer accuracy is added
    only when `evaluate.llm_reader` names a model. Q-RAG's learned stop uses the
    thresholds the checkpoint chose on its validation episodes, per benchmark, unless
    `evaluate.stop_threshold` gives one number."""
    return evaluation.retrieval_metrics(
        episodes_from_frame(eval_episodes),
        pd.concat([q_retrieval_traces, baseline_traces], ignore_index=True),
        q_embedder_checkpoint.stop_thresholds,
        evaluate,
    )
