"""embed, train_q and evaluate through Kedro, after data_prep (tiny environment)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import Version

from qrag_pipeline.datasets.embeddings_dataset import EpisodeEmbeddingsDataset
from qrag_pipeline.episodes import episodes_from_frame
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.evaluation import METHODS, TRACE_COLUMNS
from qrag_pipeline.metrics import babi_answer_correct
from qrag_pipeline.readers.babi_rules import answer_babi_question
from tests.conftest import data_files

T = 4  # evaluate.max_steps


def _latest(root: Path, folder: str, name: str) -> Path:
    return sorted((root / "data" / folder / name).glob(f"*/{name}"))[-1]


def test_train_q_after_data_prep_alone_names_embed(
    copy_of: Callable[[Path], Path], data_prepped_project: Path, run_pipeline
) -> None:
    project = copy_of(data_prepped_project)
    before = data_files(project)
    with pytest.raises(
        QragInputError,
        match=r"training_pool_embeddings \(made by embed\) yet\. Fix: run embed ",
    ):
        run_pipeline("train_q")
    assert data_files(project) == before


def test_embed_and_evaluate_write_versioned_embeddings_traces_and_metrics(evaluated_project: Path) -> None:
    """What embed, train_q and evaluate wrote in the session's evaluated project (read only)."""
    project = evaluated_project
    episodes = episodes_from_frame(
        pd.read_parquet(_latest(project, "05_model_input", "eval_episodes.parquet"))
    )
    by_id = {episode.id: episode for episode in episodes}
    chunks = [chunk for episode in episodes for chunk in episode.chunks]

    embeddings = _load_embeddings(project, "pretrained_chunk_embeddings")
    # every chunk text encoded once: as many vectors as distinct texts
    assert len(embeddings.texts) == len(set(embeddings.texts)) == len(set(chunks))
    assert len(set(chunks)) < len(chunks)  # the episodes do share sentences
    assert embeddings.vectors.shape == (len(set(chunks)), 384)
    assert embeddings.vectors.dtype == np.float16
    for episode in episodes:
        rows = embeddings.rows[episode.id]
        assert [embeddings.texts[row] for row in rows] == episode.chunks

    # the training pools, embedded once for every train_q run on them: every story
    # fact and every distractor sentence, each once, belonging to no episode
    pool = _load_embeddings(project, "training_pool_embeddings")
    stories = pd.read_parquet(_latest(project, "03_primary", "babi_train_stories.parquet"))
    distractors = pd.read_parquet(_latest(project, "03_primary", "train_distractor_sentences.parquet"))
    texts = set(pool.texts)
    assert len(texts) == len(pool.texts) == pool.vectors.shape[0]
    assert {fact for facts in stories.facts for fact in facts} <= texts
    assert set(distractors.sentence) <= texts
    assert pool.rows == {}
    assert pool.encoder == embeddings.encoder

    outputs = "07_model_output"
    q_traces = pd.read_parquet(_latest(project, outputs, "q_retrieval_traces.parquet"))
    baselines = pd.read_parquet(_latest(project, outputs, "baseline_traces.parquet"))
    assert list(q_traces.columns) == list(baselines.columns) == list(TRACE_COLUMNS)
    assert set(q_traces.method) == {"q_rag"}
    assert set(baselines.method) == set(METHODS[1:])
    traces = pd.concat([q_traces, baselines], ignore_index=True)
    assert sorted(zip(traces.episode_id, traces.method, strict=True)) == sorted(
        (episode.id, method) for episode in episodes for method in METHODS
    )
    for row in traces.itertuples():
        episode = by_id[row.episode_id]
        bucket = (episode.benchmark, episode.task, episode.length_bucket)
        assert (row.benchmark, row.task, row.length_bucket) == bucket
        assert len(row.retrieved) == len(set(row.retrieved)) == len(row.q_values) == T
        assert all(0 <= i < len(episode.chunks) for i in row.retrieved)
        assert row.encode_s >= 0 and row.steps_s > 0
    assert (traces[traces.method == "tfidf"].encode_s == 0).all()
    # the tiny model's action encoder is frozen: Q-RAG scores the very chunk
    # embeddings the dense baselines use, so both report the one encoding
    assert q_traces.encode_s.tolist() == baselines[baselines.method == "dense"].encode_s.tolist()

    metrics = pd.read_csv(_latest(project, "08_reporting", "retrieval_metrics.csv"))
    # tiny: qa1 and qa2 at 1k, 4 questions each, and two NIAH tasks at 1k, 2 each;
    # one row per benchmark, task, length and method
    assert metrics[["benchmark", "task", "length_bucket", "method"]].values.tolist() == [
        [benchmark, task, "1k", method]
        for benchmark, task in (
            ("babilong", "qa1"),
            ("babilong", "qa2"),
            ("ruler", "niah_single_1"),
            ("ruler", "niah_multivalue"),
        )
        for method in METHODS
    ]
    assert metrics.n_episodes.tolist() == [4] * 8 + [2] * 8
    # each benchmark has its own answer metric: the rule reader for bAbI, the
    # fraction of gold values for NIAH
    is_ruler = metrics.benchmark == "ruler"
    assert metrics.loc[is_ruler, f"answer_accuracy_rule_reader@T={T}"].isna().all()
    assert metrics.loc[~is_ruler, f"niah_values@T={T}"].isna().all()
    assert metrics.loc[is_ruler, f"niah_values@T={T}"].between(0, 1).all()
    rates = metrics[[c for c in metrics.columns if c.startswith(("fact_", "answer_"))]]
    values = rates.to_numpy().ravel()
    values = values[~np.isnan(values)]  # NaN: the baselines' learned stop
    assert len(values) > 0 and ((values >= 0) & (values <= 1)).all()
    learned = [c for c in metrics.columns if c.endswith("@learned")]
    is_q_rag = metrics.method == "q_rag"
    assert metrics.loc[is_q_rag, learned].notna().all().all()
    assert metrics.loc[~is_q_rag, learned].isna().all().all()
    assert not any("llm" in column for column in metrics.columns)  # llm_reader: null

    # the rule reader's accuracy of one row, by hand from the traces: the first T
    # chunks in document order, answered by the bAbI rules
    row = metrics[(metrics.task == "qa2") & (metrics.method == "multistep_dense")]
    chosen = traces[(traces.task == "qa2") & (traces.method == "multistep_dense")]
    correct = []
    for trace in chosen.itertuples():
        episode = by_id[trace.episode_id]
        sentences = [episode.chunks[i] for i in sorted(trace.retrieved[:T])]
        answer = answer_babi_question("qa2", sentences, episode.question).answer or ""
        correct.append(babi_answer_correct(answer, episode.answer))
    column = f"answer_accuracy_rule_reader@T={T}"
    assert row[column].item() == pytest.approx(sum(correct) / len(correct))
    assert not math.isnan(row[f"fact_f1@T={T}"].item())


def _load_embeddings(project: Path, name: str):
    (folder,) = (project / "data/04_feature" / name).glob(f"*/{name}")
    assert sorted(p.name for p in folder.iterdir()) == ["embeddings.json", "rows.npy", "vectors.npy"]
    return EpisodeEmbeddingsDataset(str(project / "data/04_feature" / name), Version(None, None)).load()


def test_train_q_before_its_inputs_exist_names_the_pipelines_to_run(project_copy: Path, run_pipeline) -> None:
    """The message `kedro run` prints as its one error line (the command line's form of
    a QragInputError: tests/pipelines/test_train_q.py)."""
    message = (
        "no saved version of babi_train_stories (made by data_prep), "
        "hotpotqa_train_episodes (made by data_prep), train_distractor_sentences (made "
        "by data_prep), training_pool_embeddings (made by embed) yet. Fix: run data_prep "
        "and embed first (kedro run --pipelines data_prep,embed), or in the same run "
        "(kedro run --pipelines data_prep,embed,train_q)."
    )
    with pytest.raises(QragInputError) as raised:
        run_pipeline("train_q")
    assert str(raised.value) == message
    assert not data_files(project_copy)
