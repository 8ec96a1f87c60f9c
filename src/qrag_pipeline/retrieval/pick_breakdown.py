"""Where a multi-hop retrieval loses the chain: each pick's hit rate, by question group.

Fact EM@T says how many questions got every supporting chunk, not which hop failed. A
HotpotQA bridge question fails differently from a comparison one: its second paragraph
is named only in the first, so a right first pick is what makes the second findable.
This table splits the traces that way: per method and question group (HotpotQA's
`type`, MuSiQue's hop count), the share of questions whose t-th pick is a supporting
chunk, and the share whose second pick is one given that the first was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError


def pick_breakdown(
    traces: pd.DataFrame,
    episodes: Sequence[Episode],
    group_of: Mapping[str, str],
    max_steps: int,
) -> pd.DataFrame:
    """One row per method and group (and an "all" group): `questions`, `fact_em@T`
    (every supporting chunk among the first T picks), `gold@pick<t>` for t = 1..T and,
    from T = 2, `gold@pick2|pick1` (the second pick's hit rate over the questions whose
    first pick was supporting; NaN where none was).

    `traces` is the evaluation's traces table (`retrieved` in pick order), `group_of`
    maps each episode id to its group; an episode of the traces missing from
    `episodes` or `group_of` is an error, not a silent drop.
    """
    support = {episode.id: set(episode.support) for episode in episodes}
    rows = []
    for trace in traces.itertuples():
        if trace.episode_id not in support or trace.episode_id not in group_of:
            raise QragInputError(
                f"traced episode {trace.episode_id!r} has no episode or group. Fix: pass the "
                "episodes the traces were made on and a group for each of them."
            )
        gold, picks = support[trace.episode_id], list(trace.retrieved)[:max_steps]
        hits = [pick in gold for pick in picks] + [False] * (max_steps - len(picks))
        row = {
            "method": trace.method,
            "group": group_of[trace.episode_id],
            f"fact_em@T={max_steps}": float(bool(gold) and gold <= set(picks)),
            **{f"gold@pick{t + 1}": float(hit) for t, hit in enumerate(hits)},
        }
        if max_steps >= 2:
            row["gold@pick2|pick1"] = float(hits[1]) if hits[0] else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    every = pd.concat([table, table.assign(group="all")], ignore_index=True)
    grouped = every.groupby(["method", "group"], sort=False)
    return pd.concat([grouped.size().rename("questions"), grouped.mean()], axis=1).reset_index()
