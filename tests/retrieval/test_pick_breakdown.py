"""The pick breakdown: each pick's hit rate and the second hop given the first, by group."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from qrag_pipeline.builders.hotpotqa import build_hotpotqa_episodes
from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.retrieval.pick_breakdown import pick_breakdown
from qrag_pipeline.sources.hotpotqa import parse_hotpotqa_file

DEV_SAMPLE = "hotpotqa/hotpot_dev_distractor_v1.sample.json.gz"


def two_hop(episode_id: str) -> Episode:
    return Episode(episode_id, "hotpotqa", "hotpotqa", "p", "q?", "a", [f"p{i}" for i in range(6)], [1, 4])


def traces(method: str, picks: dict[str, list[int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"episode_id": key, "method": method, "retrieved": retrieved} for key, retrieved in picks.items()]
    )


def row(table: pd.DataFrame, method: str, group: str) -> pd.Series:
    (index,) = table.index[(table.method == method) & (table.group == group)]
    return table.loc[index]


def test_hit_rates_per_pick_and_the_second_hop_given_the_first() -> None:
    episodes = [two_hop(name) for name in "abcd"]
    picks = {"a": [1, 4], "b": [4, 0], "c": [0, 1], "d": [1, 2]}
    groups = {"a": "bridge", "b": "bridge", "c": "comparison", "d": "comparison"}

    table = pick_breakdown(traces("q_rag", picks), episodes, groups, max_steps=2)

    every = row(table, "q_rag", "all")
    assert every["questions"] == 4
    assert every["fact_em@T=2"] == 0.25  # only a holds both
    assert every["gold@pick1"] == 0.75  # a, b, d
    assert every["gold@pick2"] == 0.5  # a, c
    assert every["gold@pick2|pick1"] == pytest.approx(1 / 3)  # of a, b, d: a
    bridge, comparison = row(table, "q_rag", "bridge"), row(table, "q_rag", "comparison")
    assert (bridge["questions"], bridge["fact_em@T=2"], bridge["gold@pick2|pick1"]) == (2, 0.5, 0.5)
    assert comparison["gold@pick1"] == 0.5
    assert comparison["gold@pick2|pick1"] == 0.0  # d's first pick held, its second did not


def test_methods_stay_apart_and_a_group_without_a_first_hit_has_no_conditional_rate() -> None:
    episodes = [two_hop("a"), two_hop("b")]
    groups = {"a": "x", "b": "y"}
    dense, tfidf = traces("dense", {"a": [0, 1], "b": [1, 4]}), traces("tfidf", {"a": [1, 4], "b": [0, 2]})
    both = pd.concat([dense, tfidf])

    table = pick_breakdown(both, episodes, groups, max_steps=2)

    assert math.isnan(row(table, "dense", "x")["gold@pick2|pick1"])
    assert row(table, "dense", "y")["fact_em@T=2"] == 1.0
    assert row(table, "tfidf", "all")["fact_em@T=2"] == 0.5
    assert len(table) == 6  # two methods, groups x, y and all


def test_a_traced_episode_without_a_group_is_one_clear_error() -> None:
    with pytest.raises(QragInputError, match="'b' has no episode or group"):
        pick_breakdown(
            traces("q_rag", {"a": [1, 4], "b": [1, 4]}), [two_hop("a"), two_hop("b")], {"a": "x"}, max_steps=2
        )


def test_gold_picks_on_real_hotpotqa_questions_score_one_in_each_type(shared_data: Path) -> None:
    records = parse_hotpotqa_file(shared_data / DEV_SAMPLE)[:40]
    episodes = build_hotpotqa_episodes(records, "paragraph")
    assert all(len(episode.support) == 2 for episode in episodes)
    groups = {episode.id: record.type for episode, record in zip(episodes, records, strict=True)}
    gold_first = {episode.id: list(episode.support) for episode in episodes}
    wrong_second = {  # the first gold paragraph, then a chunk past the document (never gold)
        episode.id: [episode.support[0], len(episode.chunks)] for episode in episodes
    }

    table = pick_breakdown(
        pd.concat([traces("gold", gold_first), traces("half", wrong_second)]), episodes, groups, max_steps=2
    )

    assert set(table.group) == {"bridge", "comparison", "all"}
    gold, half = table[table.method == "gold"], table[table.method == "half"]
    assert (gold["fact_em@T=2"] == 1.0).all() and (gold["gold@pick2|pick1"] == 1.0).all()
    assert (half["gold@pick1"] == 1.0).all() and (half["fact_em@T=2"] == 0.0).all()
    assert row(table, "gold", "all")["questions"] == 40
