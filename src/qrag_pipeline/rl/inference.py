"""Greedy multi-step retrieval with a Q-network, for held-out scores during training.

A thin view of `qrag_pipeline.retrieval` (one implementation of inference): each
document's chunks are embedded once, every distinct text once across the episodes;
every step then costs one state encoding per episode plus a dot product per chunk
(docs/method.md, "Inference").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import torch

from qrag_pipeline.episodes import Episode
from qrag_pipeline.metrics import fact_scores
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import encode_chunk_lists
from qrag_pipeline.retrieval.multistep import retrieve_batch
from qrag_pipeline.retrieval.trace import Trace, best_stop_threshold

ALL_BENCHMARKS = "all"
"""The key of the stop threshold chosen on every validation episode together: the one
for documents of no known benchmark (a user's own)."""

PROGRESS_ABOVE_CHUNKS = 10_000
"""Show an encoding progress bar only for episode sets with more chunks than this."""


@torch.no_grad()
def greedy_rollout(
    network: QNetwork,
    episodes: Sequence[Episode],
    max_steps: int,
    chunk_embeddings: Sequence[torch.Tensor] | None = None,
) -> list[list[int]]:
    """Per episode, the argmax chunk of each of `max_steps` steps, in retrieval order.

    An episode stops early when its document has no chunk left. The states of all
    episodes still running are encoded as one batch per step. `chunk_embeddings`
    (the action encoder's outputs per episode) are made here when not given.
    """
    traces = greedy_traces(network, episodes, max_steps, chunk_embeddings)
    return [trace.retrieved for trace in traces]


def encode_chunks_once(network: QNetwork, episodes: Sequence[Episode]) -> list[torch.Tensor]:
    """Each episode's chunk embeddings [N_i, D], encoding every distinct text once.

    Long episodes built from one pool of book text share most of their sentences
    (200 episodes at 32k tokens hold 240,000 chunks but about 65,000 distinct ones), and
    a text's embedding does not depend on its episode.
    """
    chunk_lists = [episode.chunks for episode in episodes]
    progress = sum(len(chunks) for chunks in chunk_lists) > PROGRESS_ABOVE_CHUNKS
    return encode_chunk_lists(network.action_encoder, chunk_lists, progress)


def fact_em_rate(episodes: Sequence[Episode], retrieved: Sequence[Sequence[int]]) -> float:
    """Mean fact EM (`metrics.fact_scores`): the share of episodes whose supporting
    chunks are all among the retrieved ones. Episodes of unknown support are skipped,
    as `metrics.aggregate` skips them; NaN when none is left."""
    ems = [fact_scores(e.support, r).em for e, r in zip(episodes, retrieved, strict=True)]
    known = [em for em in ems if not math.isnan(em)]
    return sum(known) / len(known) if known else math.nan


@torch.no_grad()
def stop_thresholds(
    network: QNetwork,
    episodes: Sequence[Episode],
    max_steps: int,
    chunk_embeddings: Sequence[torch.Tensor] | None = None,
) -> dict[str, float]:
    """The learned stop's threshold per benchmark of `episodes`, and for all of them
    together (`ALL_BENCHMARKS`): each the one with the best mean fact F1 of the
    network's greedy `max_steps`-step traces (`best_stop_threshold`)."""
    traces = greedy_traces(network, episodes, max_steps, chunk_embeddings)
    groups: dict[str, list[tuple[Trace, list[int]]]] = defaultdict(list)
    for episode, trace in zip(episodes, traces, strict=True):
        groups[episode.benchmark].append((trace, episode.support))
        groups[ALL_BENCHMARKS].append((trace, episode.support))
    return {
        benchmark: best_stop_threshold([t for t, _ in pairs], [s for _, s in pairs])
        for benchmark, pairs in groups.items()
    }


def greedy_traces(
    network: QNetwork,
    episodes: Sequence[Episode],
    max_steps: int,
    chunk_embeddings: Sequence[torch.Tensor] | None,
) -> list[Trace]:
    """The network's greedy `max_steps`-step traces, encoding the episodes' chunks
    here (once per episode) when `chunk_embeddings` are not given."""
    if chunk_embeddings is None:
        chunk_embeddings = encode_chunks_once(network, episodes)
    return retrieve_batch(network, episodes, chunk_embeddings, max_steps)
