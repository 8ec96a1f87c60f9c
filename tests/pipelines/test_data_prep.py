"""data_prep through Kedro, in the tests' environment (`tiny`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from qrag_pipeline.episodes import EPISODE_COLUMNS, episodes_from_frame
from qrag_pipeline.errors import QragInputError
from tests.conftest import data_files


def _versions(root: Path, name: str) -> list[Path]:
    return sorted(root.glob(f"data/*/{name}/*/{name}"))


def test_data_prep_writes_versioned_pools_and_episodes(
    copy_of: Callable[[Path], Path], data_prepped_project: Path, run_pipeline
) -> None:
    project_copy = copy_of(data_prepped_project)  # data_prep ran there once
    (episodes_path,) = _versions(project_copy, "babilong_eval_episodes.parquet")
    frame = pd.read_parquet(episodes_path)
    assert list(frame.columns) == list(EPISODE_COLUMNS)
    episodes = episodes_from_frame(frame)
    # tiny: qa1 and qa2 at 1k, 4 questions each
    assert sorted({(e.task, e.length_bucket) for e in episodes}) == [("qa1", "1k"), ("qa2", "1k")]
    assert len(episodes) == 8 and all(len(e.chunks) == 50 for e in episodes)
    assert all(e.support and e.answer for e in episodes)
    for name in (
        "babi_train_stories",
        "babi_test_stories",
        "train_distractor_sentences",
        "test_distractor_sentences",
    ):
        (path,) = _versions(project_copy, f"{name}.parquet")
        assert len(pd.read_parquet(path)) > 0
    train = set(pd.read_parquet(_versions(project_copy, "train_distractor_sentences.parquet")[0]).sentence)
    assert not train & {c for e in episodes for c in e.chunks}

    run_pipeline("data_prep")  # a rerun adds a version and never overwrites
    again = _versions(project_copy, "babilong_eval_episodes.parquet")
    assert len(again) == 2
    assert pd.read_parquet(again[0]).equals(pd.read_parquet(again[1]))


def test_a_failing_run_leaves_no_partial_artifact(project_copy: Path, run_pipeline) -> None:
    with pytest.raises(QragInputError, match="unknown length bucket '3k'"):
        run_pipeline("data_prep", params={"data_prep": {"babilong": {"eval_lengths": ["3k"]}}})
    assert not data_files(project_copy)


@pytest.mark.shared_data
def test_data_prep_on_the_official_files_and_real_books(
    project_copy: Path, run_pipeline, shared_data: Path
) -> None:
    from qrag_pipeline.readers.babi_rules import answer_babi_question, parse_sentence

    babi, books = shared_data / "babi", shared_data / "books"
    run_pipeline(
        "data_prep",
        params={
            "data_prep": {
                "stories": {"source": "babi_files", "babi_dirs": [str(babi / "en-10k"), str(babi / "en")]},
                "distractors": {
                    "source": "books",
                    "train_books_dir": str(books / "train"),
                    "test_books_dir": str(books / "test"),
                },
                "babilong": {
                    "tasks": ["qa2", "qa3"],
                    "eval_lengths": ["1k", "32k"],
                    "episodes_per_task_length": 5,
                },
            }
        },
    )
    (path,) = _versions(project_copy, "babilong_eval_episodes.parquet")
    episodes = episodes_from_frame(pd.read_parquet(path))
    assert len(episodes) == 20

    def pool(name: str) -> set[str]:
        (pool_path,) = _versions(project_copy, f"{name}.parquet")
        return set(pd.read_parquet(pool_path).sentence)

    test_books = pool("test_distractor_sentences")
    train_only = pool("train_distractor_sentences") - test_books
    for episode in episodes:
        assert len(episode.chunks) == {"1k": 50, "32k": 1200}[episode.length_bucket]
        # the story is recoverable from the document: the reader answers from the
        # supporting chunks alone, and from the whole document with book text around it
        gold = [episode.chunks[i] for i in episode.support]
        assert answer_babi_question(episode.task, gold, episode.question).answer == episode.answer
        whole = answer_babi_question(episode.task, episode.chunks, episode.question)
        assert whole.answer == episode.answer and set(whole.support) == set(episode.support)
        # every chunk is a bAbI fact or a test-book sentence (a few short ones, such as
        # "They were both silent.", also occur in some training book)
        assert all(c in test_books or parse_sentence(c) for c in episode.chunks)
        assert not any(c in train_only for c in episode.chunks)
    # the training pool holds official train questions (qa3 from en/, absent in en-10k)
    (train_path,) = _versions(project_copy, "babi_train_stories.parquet")
    counts = pd.read_parquet(train_path).task.value_counts().to_dict()
    assert counts == {"qa2": 10000, "qa3": 1000}


def test_data_prep_collects_every_enabled_benchmark(data_prepped_project: Path) -> None:
    (babilong_path,) = _versions(data_prepped_project, "babilong_eval_episodes.parquet")
    (ruler_path,) = _versions(data_prepped_project, "ruler_eval_episodes.parquet")
    (all_path,) = _versions(data_prepped_project, "eval_episodes.parquet")
    babilong = episodes_from_frame(pd.read_parquet(babilong_path))
    ruler = episodes_from_frame(pd.read_parquet(ruler_path))
    # tiny: two NIAH tasks at 1k, 2 episodes each, the essay haystack from test prose
    assert sorted({(e.benchmark, e.task) for e in ruler}) == [
        ("ruler", "niah_multivalue"),
        ("ruler", "niah_single_1"),
    ]
    assert len(ruler) == 4 and all(len(e.chunks) == 50 for e in ruler)
    assert episodes_from_frame(pd.read_parquet(all_path)) == babilong + ruler
    # hotpotqa is not enabled in tiny: its tables exist and are empty
    for name in ("hotpotqa_train_episodes", "hotpotqa_eval_episodes"):
        (path,) = _versions(data_prepped_project, f"{name}.parquet")
        assert pd.read_parquet(path).empty


def test_no_enabled_benchmark_is_a_clear_error(project_copy: Path, run_pipeline) -> None:
    with pytest.raises(QragInputError, match="enables none of babilong, ruler, hotpotqa"):
        run_pipeline("data_prep", params={"data_prep": {"benchmarks": []}})
    with pytest.raises(QragInputError, match=r"unknown benchmarks \['bablong'\]"):
        run_pipeline("data_prep", params={"data_prep": {"benchmarks": ["bablong"]}})
    assert not data_files(project_copy)


@pytest.mark.shared_data
def test_data_prep_builds_hotpotqa_from_the_real_dev_sample(
    project_copy: Path, run_pipeline, shared_data: Path
) -> None:
    run_pipeline(
        "data_prep",
        params={
            "data_prep": {
                "benchmarks": ["hotpotqa"],
                "hotpotqa": {
                    "path": str(shared_data / "hotpotqa" / "hotpot_dev_distractor_v1.sample.json.gz"),
                    "train_questions": 1500,
                    "long_context_lengths": {"4k": 4000},
                },
            }
        },
    )
    (train_path,) = _versions(project_copy, "hotpotqa_train_episodes.parquet")
    (eval_path,) = _versions(project_copy, "eval_episodes.parquet")
    train = episodes_from_frame(pd.read_parquet(train_path))
    held_out = episodes_from_frame(pd.read_parquet(eval_path))
    assert len(train) == 1500
    # the 80 other questions, in the distractor setting and at about 4k tokens
    assert sorted({e.length_bucket for e in held_out}) == ["4k", "distractor"]
    assert len(held_out) == 160
    assert all(e.benchmark == "hotpotqa" and len(e.support) == 2 for e in held_out)
    assert {e.question for e in train}.isdisjoint({e.question for e in held_out})
    assert all(e.n_tokens >= 4000 for e in held_out if e.length_bucket == "4k")
