"""data_prep nodes: thin calls into `qrag_pipeline.sources` and `.builders`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from qrag_pipeline.builders.babilong import build_babilong_episodes
from qrag_pipeline.builders.hotpotqa import (
    build_hotpotqa_episodes,
    build_hotpotqa_long_episodes,
)
from qrag_pipeline.builders.ruler import build_niah_episodes
from qrag_pipeline.episodes import episodes_to_frame
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.pools import (
    documents_from_frame,
    documents_to_frame,
    samples_from_frame,
    samples_to_frame,
)
from qrag_pipeline.sources.babilong_hub import load_babilong_hub
from qrag_pipeline.sources.distractor_sources import load_distractor_documents
from qrag_pipeline.sources.hotpotqa import (
    HotpotRecord,
    load_hotpotqa_hub,
    parse_hotpotqa_file,
    split_records,
)
from qrag_pipeline.sources.story_sources import load_story_samples

BENCHMARKS = ("babilong", "ruler", "hotpotqa")


def load_babi_stories(
    stories: dict[str, Any], tasks: list[str], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test questions (with their story facts) of every configured task."""
    return tuple(
        samples_to_frame(
            sample for task in tasks for sample in load_story_samples(stories, task, split, seed)
        )
        for split in ("train", "test")
    )


def load_distractor_sentences(distractors: dict[str, Any], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test distractor documents, one row per sentence."""
    train, test = load_distractor_documents(distractors, seed)
    return documents_to_frame(train), documents_to_frame(test)


def build_babilong_eval_episodes(
    test_stories: pd.DataFrame,
    test_distractors: pd.DataFrame,
    babilong: dict[str, Any],
    benchmarks: list[str],
    seed: int,
) -> pd.DataFrame:
    """Evaluation episodes per task and length: rebuilt (with support ids) or the hub's."""
    if not _enabled("babilong", benchmarks):
        return episodes_to_frame([])
    if babilong["episodes_from"] == "hub":
        return episodes_to_frame(
            episode
            for task in babilong["tasks"]
            for length in babilong["eval_lengths"]
            for episode in load_babilong_hub(babilong["hub_source"], length, task)
        )
    samples = samples_from_frame(test_stories)
    by_task = {task: [s for s in samples if s.task == task] for task in babilong["tasks"]}
    return episodes_to_frame(
        build_babilong_episodes(
            by_task,
            documents_from_frame(test_distractors),
            babilong["eval_lengths"],
            babilong["episodes_per_task_length"],
            seed,
            babilong["length_buckets"],
        )
    )


def build_ruler_eval_episodes(
    test_distractors: pd.DataFrame,
    ruler: dict[str, Any],
    benchmarks: list[str],
    seed: int,
) -> pd.DataFrame:
    """NIAH episodes per task and length; the essay haystack is the test distractor
    text (the built-in prose by default, book sentences with distractors.source: books)."""
    if not _enabled("ruler", benchmarks):
        return episodes_to_frame([])
    return episodes_to_frame(
        build_niah_episodes(
            ruler["tasks"],
            documents_from_frame(test_distractors),
            ruler["eval_lengths"],
            ruler["episodes_per_task_length"],
            seed,
            ruler["length_buckets"],
        )
    )


def build_hotpotqa_episode_sets(
    hotpotqa: dict[str, Any], benchmarks: list[str], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """HotpotQA training and evaluation episodes (distractor setting, plus the
    long-context variant at each of `long_context_lengths`)."""
    if not _enabled("hotpotqa", benchmarks):
        return episodes_to_frame([]), episodes_to_frame([])
    train, held_out = _hotpotqa_records(hotpotqa)
    chunking = hotpotqa["chunking"]
    episodes = build_hotpotqa_episodes(held_out, chunking)
    for length, target_tokens in hotpotqa["long_context_lengths"].items():
        episodes += build_hotpotqa_long_episodes(held_out, held_out, target_tokens, length, seed, chunking)
    return episodes_to_frame(build_hotpotqa_episodes(train, chunking)), episodes_to_frame(episodes)


def collect_eval_episodes(*episode_sets: pd.DataFrame) -> pd.DataFrame:
    """Every enabled benchmark's evaluation episodes in one table, the one that embed
    and evaluate read; an empty table (no benchmark enabled) is an error."""
    filled = [frame for frame in episode_sets if not frame.empty]
    if not filled:
        raise QragInputError(
            "no evaluation episodes: data_prep.benchmarks enables none of babilong, "
            "ruler, hotpotqa. Fix: list at least one in data_prep.benchmarks."
        )
    return pd.concat(filled, ignore_index=True)


def _hotpotqa_records(
    hotpotqa: dict[str, Any],
) -> tuple[list[HotpotRecord], list[HotpotRecord]]:
    """Training and held-out records: a fixed split of one file, or the hub's splits."""
    if hotpotqa["source"] == "file":
        return split_records(parse_hotpotqa_file(hotpotqa["path"]), hotpotqa["train_questions"])
    if hotpotqa["source"] == "hub":
        return (
            load_hotpotqa_hub(hotpotqa["hub_id"], hotpotqa["hub_train_split"]),
            load_hotpotqa_hub(hotpotqa["hub_id"], hotpotqa["hub_eval_split"]),
        )
    raise QragInputError(
        f"unknown HotpotQA source {hotpotqa['source']!r}. Fix: set data_prep.hotpotqa.source to file or hub."
    )


def _enabled(benchmark: str, benchmarks: list[str]) -> bool:
    """Whether `benchmark` is in data_prep.benchmarks (whose names are checked)."""
    unknown = sorted(set(benchmarks) - set(BENCHMARKS))
    if unknown:
        raise QragInputError(
            f"data_prep.benchmarks lists unknown benchmarks {unknown}. Fix: use "
            f"names among {list(BENCHMARKS)}."
        )
    return benchmark in benchmarks
