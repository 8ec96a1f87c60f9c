"""One retrieval trace and the stop rules that cut it after the fact.

Every retriever (Q-RAG and the baselines) returns a `Trace`: the chunks it picked in
retrieval order and the score of each pick. Retrieval itself never stops early; a stop
rule is applied to the trace afterwards, so one run gives the fixed-T result, the
learned stop and the oracle stop alike, and they can be compared on the same picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.metrics import fact_scores

THRESHOLD_CANDIDATES = 256
"""At most this many thresholds are tried when one is chosen on validation traces."""


@dataclass(frozen=True)
class Trace:
    """What one question's retrieval did, step by step.

    `retrieved[t]` is the chunk index picked at step t; `q_values[t]` its score when it
    was picked: for Q-RAG the best (argmax) Q value, the sum of the twin estimates; for
    a baseline its own score (TF-IDF cosine, inner product).
    """

    retrieved: list[int]
    q_values: list[float]

    def __post_init__(self) -> None:
        if len(self.retrieved) != len(self.q_values):
            raise QragInputError(
                f"retrieval trace has {len(self.retrieved)} indices but "
                f"{len(self.q_values)} Q values. Fix: record one Q value per step."
            )


def fixed_steps(trace: Trace, steps: int) -> list[int]:
    """Stop rule "T fixed steps": the first `steps` chunks retrieved (all if fewer).

    This is the retrieval behind fact EM@T.
    """
    if steps < 0:
        raise QragInputError(
            f"the number of fixed steps must be 0 or more, got {steps}. "
            "Fix: set T (e.g. evaluate.max_steps) to a non-negative integer."
        )
    return list(trace.retrieved[:steps])


def learned_stop(trace: Trace, threshold: float) -> list[int]:
    """Stop rule "learned stop": retrieve while the best Q value is >= `threshold`.

    As in the reference, a step is taken only while its Q value reaches the threshold,
    and the first step under it ends the retrieval (later steps are not looked at).
    No chunk is guaranteed: if the very first Q value is under the threshold, the
    result is empty, and `fact_scores` scores it 0.
    """
    kept: list[int] = []
    for index, q_value in zip(trace.retrieved, trace.q_values, strict=True):
        if q_value < threshold:
            break
        kept.append(index)
    return kept


def oracle_stop(trace: Trace, support: Sequence[int]) -> list[int]:
    """Stop rule "oracle stop": stop right after the last supporting chunk is found.

    This is how the reference computes its ablation fact F1. If the trace never finds
    all supporting chunks, or the support is unknown (empty), the whole trace is kept.
    """
    missing = set(support)
    if not missing:
        return list(trace.retrieved)
    for step, index in enumerate(trace.retrieved, start=1):
        missing.discard(index)
        if not missing:
            return list(trace.retrieved[:step])
    return list(trace.retrieved)


def best_stop_threshold(traces: Sequence[Trace], supports: Sequence[Sequence[int]]) -> float:
    """The learned stop's threshold that gives these traces the best mean fact F1.

    Candidates lie between consecutive Q values the traces hold (at most
    `THRESHOLD_CANDIDATES`, evenly spaced in rank), so each keeps a different set of
    steps; where several give the best F1, the middle one is taken, the furthest from
    the Q values on either side. Choose it on validation episodes, not on the ones it
    will be scored on.
    """
    if not traces or len(traces) != len(supports):
        raise QragInputError(
            f"choosing a stop threshold needs one support list per trace, and at least "
            f"one trace; got {len(traces)} traces and {len(supports)} supports."
        )
    values = np.unique([q for trace in traces for q in trace.q_values])
    edges = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    picks = np.unique(
        np.linspace(0, len(edges) - 1, min(len(edges), THRESHOLD_CANDIDATES)).round().astype(int)
    )
    candidates = edges[picks]
    f1 = [
        np.mean(
            [
                fact_scores(support, learned_stop(trace, float(c))).f1
                for trace, support in zip(traces, supports, strict=True)
            ]
        )
        for c in candidates
    ]
    best = np.flatnonzero(np.isclose(f1, max(f1)))
    return float(candidates[best[len(best) // 2]])
