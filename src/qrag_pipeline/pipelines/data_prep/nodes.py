"""data_prep nodes: thin calls into `qrag_pipeline.sources` and `.builders`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from qrag_pipeline.builders.babilong import build_babilong_episodes
from qrag_pipeline.episodes import episodes_to_frame
from qrag_pipeline.pools import (
    documents_from_frame,
    documents_to_frame,
    samples_from_frame,
    samples_to_frame,
)
from qrag_pipeline.sources.babilong_hub import load_babilong_hub
from qrag_pipeline.sources.distractor_sources import load_distractor_documents
from qrag_pipeline.sources.story_sources import load_story_samples


def load_babi_stories(
    stories: dict[str, Any], tasks: list[str], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test questions (with their story facts) of every configured task."""
    return tuple(
        samples_to_frame(
            sample
            for task in tasks
            for sample in load_story_samples(stories, task, split, seed)
        )
        for split in ("train", "test")
    )


def load_distractor_sentences(
    distractors: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test distractor documents, one row per sentence."""
    train, test = load_distractor_documents(distractors, seed)
    return documents_to_frame(train), documents_to_frame(test)


def build_babilong_eval_episodes(
    test_stories: pd.DataFrame,
    test_distractors: pd.DataFrame,
    babilong: dict[str, Any],
    seed: int,
) -> pd.DataFrame:
    """Evaluation episodes per task and length: rebuilt (with support ids) or the hub's."""
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
