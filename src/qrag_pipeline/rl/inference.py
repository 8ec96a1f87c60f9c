"""Greedy multi-step retrieval with a Q-network, for held-out scores during training.

Each document's chunks are embedded once; every step then costs one state encoding per
episode plus a dot product per chunk (METHOD.md, "Inference at any length").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from qrag_pipeline.episodes import Episode
from qrag_pipeline.models.q_network import QNetwork


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
    chunk_embeddings = encode_chunks_once(network, episodes)
    retrieved: list[list[int]] = [[] for _ in episodes]
    for _ in range(max_steps):
        running = [
            i
            for i, episode in enumerate(episodes)
            if len(retrieved[i]) < len(episode.chunks)
        ]
        if not running:
            break
        states = network.state_encoder.encode(
            [
                network.state_text(
                    episodes[i].question, episodes[i].chunks, retrieved[i], chunk_budget
                )
                for i in running
            ]
        )
        for row, i in enumerate(running):
            taken = torch.tensor(retrieved[i], dtype=torch.long)
            actions = network.positioned_actions(chunk_embeddings[i], taken)
            q = network.q_values(states[row : row + 1], actions)[0]
            q[taken.to(q.device)] = -torch.inf
            retrieved[i].append(int(q.argmax()))
    return retrieved


def encode_chunks_once(network: QNetwork, episodes: Sequence[Episode]) -> list[torch.Tensor]:
    """Each episode's chunk embeddings [N_i, D], encoding every distinct text once.

    Long episodes built from one pool of book text share most of their sentences
    (200 episodes at 32k tokens hold 240,000 chunks but about 65,000 distinct ones), and
    a text's embedding does not depend on its episode.
    """
    distinct = list(dict.fromkeys(chunk for episode in episodes for chunk in episode.chunks))
    table = network.action_encoder.encode(distinct, progress=len(distinct) > 10_000)
    row = {text: i for i, text in enumerate(distinct)}
    return [table[[row[chunk] for chunk in episode.chunks]] for episode in episodes]


def fact_em_rate(
    episodes: Sequence[Episode], retrieved: Sequence[Sequence[int]]
) -> float:
    """Share of episodes whose supporting chunks are all among the retrieved ones."""
    if not episodes:
        return float("nan")
    hits = [set(e.support) <= set(r) for e, r in zip(episodes, retrieved, strict=True)]
    return sum(hits) / len(hits)
