"""Greedy multi-step retrieval with a Q-network, for held-out scores during training.

A thin view of `qrag_pipeline.retrieval` (one implementation of inference): each
document's chunks are embedded once, every distinct text once across the episodes;
every step then costs one state encoding per episode plus a dot product per chunk
(METHOD.md, "Inference at any length").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from qrag_pipeline.episodes import Episode
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import encode_chunk_lists
from qrag_pipeline.retrieval.multistep import retrieve_batch

PROGRESS_ABOVE_CHUNKS = 10_000
"""Show an encoding progress bar only for episode sets with more chunks than this."""


@torch.no_grad()
def greedy_rollout(
    network: QNetwork,
    episodes: Sequence[Episode],
    max_steps: int,
    chunk_budget: int = 64,
) -> list[list[int]]:
    """Per episode, the argmax chunk of each of `max_steps` steps, in retrieval order.

    An episode stops early when its document has no chunk left. The states of all
    episodes still running are encoded as one batch per step.
    """
    traces = retrieve_batch(
        network,
        episodes,
        encode_chunks_once(network, episodes),
        max_steps,
        chunk_budget=chunk_budget,
    )
    return [trace.retrieved for trace in traces]


def encode_chunks_once(
    network: QNetwork, episodes: Sequence[Episode]
) -> list[torch.Tensor]:
    """Each episode's chunk embeddings [N_i, D], encoding every distinct text once.

    Long episodes built from one pool of book text share most of their sentences
    (200 episodes at 32k tokens hold 240,000 chunks but about 65,000 distinct ones), and
    a text's embedding does not depend on its episode.
    """
    chunk_lists = [episode.chunks for episode in episodes]
    progress = sum(len(chunks) for chunks in chunk_lists) > PROGRESS_ABOVE_CHUNKS
    return encode_chunk_lists(network.action_encoder, chunk_lists, progress)


def fact_em_rate(
    episodes: Sequence[Episode], retrieved: Sequence[Sequence[int]]
) -> float:
    """Share of episodes whose supporting chunks are all among the retrieved ones."""
    if not episodes:
        return float("nan")
    hits = [set(e.support) <= set(r) for e, r in zip(episodes, retrieved, strict=True)]
    return sum(hits) / len(hits)
