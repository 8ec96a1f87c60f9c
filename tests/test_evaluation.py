"""The evaluation core on hand-built traces: every expected number worked out below.

Two qa1 questions over the same five-sentence document; T = 2, learned-stop threshold
0.5. The rule reader answers from the retrieved sentences in document order.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from qrag_pipeline.checkpoints import Checkpoint
from qrag_pipeline.episodes import Episode, episodes_to_frame
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.evaluation import (
    METHODS,
    TRACE_COLUMNS,
    baseline_traces,
    evaluate_methods,
    pretrained_encoder,
    q_rag_traces,
    score_traces,
    stop_setting,
    trace_rows,
)
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.pipelines.evaluate.nodes import (
    retrieve_with_baselines,
    retrieve_with_q_embedder,
    score_retrieval,
)
from qrag_pipeline.reporting.metrics_table import GROUP_COLUMNS
from qrag_pipeline.retrieval.baselines import dense_top_k, multistep_dense, tfidf_top_k
from qrag_pipeline.retrieval.embeddings import embed_episodes
from qrag_pipeline.retrieval.multistep import retrieve
from qrag_pipeline.retrieval.trace import Trace
from qrag_pipeline.rl.inference import ALL_BENCHMARKS
from tests.retrieval.conftest import small_episodes

DOCUMENT = [
    "Mary went to the kitchen.",
    "The sun rose over the hills.",
    "John went to the garden.",
    "Mary travelled to the office.",
    "Rain fell on the town.",
]
MARY = Episode("a", "babilong", "qa1", "1k", "Where is Mary?", "office", DOCUMENT, [3])
JOHN = Episode("b", "babilong", "qa1", "1k", "Where is John?", "garden", DOCUMENT, [2])
T, THRESHOLD = 2, 0.5


def _traces(method: str, traces: list[Trace], steps_s: list[float]) -> pd.DataFrame:
    return trace_rows([MARY, JOHN], method, traces, 0.2, steps_s)


# q_rag, Mary: T=2 keeps [3, 0]: EM 1, P 1/2, R 1, F1 2/3; learned keeps [3] (0.4 <
#   0.5): all 1, 1 step; oracle stops after 3: all 1; reader on [0, 3]: office (right).
# q_rag, John: T=2 keeps [0, 2]: EM 1, P 1/2, R 1, F1 2/3; learned keeps nothing (0.3
#   < 0.5): all 0, 0 steps; oracle keeps [0, 2]: as T=2; reader on [0, 2]: garden.
Q_RAG = _traces(
    "q_rag",
    [Trace([3, 0, 1], [0.9, 0.4, 0.2]), Trace([0, 2, 4], [0.3, 0.8, 0.1])],
    [0.2, 0.4],
)
# tfidf, Mary: [0, 1] finds nothing: all 0 at T=2 and oracle (whole trace); reader on
#   [0, 1]: kitchen (wrong).
# tfidf, John: [2, 3]: EM 1, P 1/2, R 1, F1 2/3; oracle stops after 2: all 1; reader
#   on [2, 3]: garden (right).
TFIDF = _traces("tfidf", [Trace([0, 1], [0.5, 0.1]), Trace([2, 3], [0.7, 0.2])], [0.0, 0.1])


def _fact_columns(stop: str) -> list[str]:
    return [f"fact_{name}@{stop}" for name in ("em", "precision", "recall", "f1")]


def _metrics(**kwargs: object) -> pd.DataFrame:
    traces = pd.concat([TFIDF, Q_RAG], ignore_index=True)
    return score_traces([MARY, JOHN], traces, T, THRESHOLD, **kwargs)


def test_the_stop_rules_stay_within_the_first_t_steps() -> None:
    # threshold 0.0: every Q value passes, yet the learned stop keeps T = 2 of the three
    # picks; John's oracle stop finds 2 at step 2 either way, Mary's finds 3 at step 1
    metrics = score_traces([MARY, JOHN], Q_RAG, T, 0.0).iloc[0]
    assert metrics["steps@learned"] == 2.0
    assert metrics["fact_f1@learned"] == pytest.approx(2 / 3)
    # a trace that never finds the support: the oracle keeps the T picks, not all three
    lost = _traces(
        "q_rag", [Trace([0, 1, 3], [0.9, 0.8, 0.7]), Trace([0, 4, 2], [0.9, 0.8, 0.7])], [0.1, 0.1]
    )
    assert score_traces([MARY, JOHN], lost, T, THRESHOLD).iloc[0]["fact_em@oracle"] == 0.0


def test_trace_rows_share_the_encoding_time_and_keep_each_step_time() -> None:
    assert list(Q_RAG.columns) == list(TRACE_COLUMNS)
    assert Q_RAG["encode_s"].tolist() == [0.1, 0.1]  # 0.2 s over 2 questions
    assert Q_RAG["steps_s"].tolist() == [0.2, 0.4]
    assert Q_RAG["retrieved"].tolist() == [[3, 0, 1], [0, 2, 4]]
    assert Q_RAG[["episode_id", "task", "length_bucket"]].values.tolist() == [
        ["a", "qa1", "1k"],
        ["b", "qa1", "1k"],
    ]


def test_score_traces_gives_the_hand_computed_means_in_report_order() -> None:
    metrics = _metrics()
    assert metrics["method"].tolist() == ["q_rag", "tfidf"]  # METHODS order
    q_rag, tfidf = (row for _, row in metrics.iterrows())
    assert list(metrics.columns) == [
        *GROUP_COLUMNS,
        "n_episodes",
        *_fact_columns("T=2"),
        *_fact_columns("learned"),
        "steps@learned",
        *_fact_columns("oracle"),
        "answer_accuracy_rule_reader@T=2",
        "seconds_per_question_encode",
        "seconds_per_question_steps",
    ]
    expected_q_rag = {
        "n_episodes": 2,
        "fact_em@T=2": 1.0,
        "fact_precision@T=2": 0.5,
        "fact_recall@T=2": 1.0,
        "fact_f1@T=2": 2 / 3,
        "fact_em@learned": 0.5,  # (1 + 0) / 2
        "fact_precision@learned": 0.5,
        "fact_recall@learned": 0.5,
        "fact_f1@learned": 0.5,
        "steps@learned": 0.5,  # (1 + 0) / 2
        "fact_em@oracle": 1.0,
        "fact_precision@oracle": 0.75,  # (1 + 1/2) / 2
        "fact_recall@oracle": 1.0,
        "fact_f1@oracle": 5 / 6,  # (1 + 2/3) / 2
        "answer_accuracy_rule_reader@T=2": 1.0,
        "seconds_per_question_encode": 0.1,
        "seconds_per_question_steps": 0.3,
    }
    expected_tfidf = {
        "n_episodes": 2,
        "fact_em@T=2": 0.5,
        "fact_precision@T=2": 0.25,  # (0 + 1/2) / 2
        "fact_recall@T=2": 0.5,
        "fact_f1@T=2": 1 / 3,  # (0 + 2/3) / 2
        "fact_em@oracle": 0.5,
        "fact_precision@oracle": 0.5,
        "fact_recall@oracle": 0.5,
        "fact_f1@oracle": 0.5,
        "answer_accuracy_rule_reader@T=2": 0.5,
        "seconds_per_question_encode": 0.1,
        "seconds_per_question_steps": 0.05,
    }
    assert q_rag[list(expected_q_rag)].to_dict() == pytest.approx(expected_q_rag)
    assert tfidf[list(expected_tfidf)].to_dict() == pytest.approx(expected_tfidf)
    # a baseline's scores are no Q values: the learned stop does not apply to it
    learned = [c for c in metrics.columns if c.endswith("@learned")]
    assert all(math.isnan(tfidf[c]) for c in learned)


class _FixedAnswers:
    """A stand-in for `LLMReader` that records what it is asked."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.items: list[tuple] = []

    def answer_batch(self, items: list[tuple]) -> list[str]:
        self.items = list(items)
        return self.answers


def test_an_llm_reader_adds_its_own_column_only_when_given() -> None:
    # rows in table order: tfidf Mary, tfidf John, q_rag Mary, q_rag John
    reader = _FixedAnswers(["Office.", "kitchen", "office", "the garden"])
    metrics = _metrics(llm_reader=reader)
    column = "answer_accuracy_llm_reader@T=2"
    assert metrics[column].tolist() == [0.5, 0.5]  # q_rag: 1, 0; tfidf: 1, 0
    asked = [retrieved for _, _, retrieved in reader.items]
    assert asked == [[0, 1], [2, 3], [3, 0], [0, 2]]  # the first T of each trace
    assert not any("llm" in c for c in _metrics().columns)


def test_traces_of_another_episode_set_or_table_are_refused() -> None:
    with pytest.raises(QragInputError, match=r"traces of episodes \['b'\]"):
        score_traces([MARY], Q_RAG, T, THRESHOLD)
    with pytest.raises(QragInputError, match=r"lacks columns \['steps_s'\]"):
        score_traces([MARY, JOHN], Q_RAG.drop(columns="steps_s"), T, THRESHOLD)


def test_q_rag_and_baseline_traces_are_the_retrievers_own(make_tiny_network, make_tiny) -> None:
    episodes = small_episodes()
    network = make_tiny_network(seed=3)
    q_embeddings = embed_episodes(network.action_encoder, episodes, "float32", False)
    q_rag = q_rag_traces(network, episodes, q_embeddings, 3)
    for episode, row in zip(episodes, q_rag.itertuples(), strict=True):
        vectors = q_embeddings.of(episode.id)
        alone = retrieve(network, episode.question, episode.chunks, vectors, 3)
        assert row.retrieved == alone.retrieved and row.method == "q_rag"
        assert row.q_values == pytest.approx(alone.q_values, abs=1e-5)
        assert row.encode_s == pytest.approx(q_embeddings.encode_s / 3)
        assert row.steps_s > 0

    encoder = make_tiny(seed=1)
    embeddings = embed_episodes(encoder, episodes, "float32", False)
    baselines = baseline_traces(encoder, episodes, embeddings, 3, multistep_dense_budget=64)
    assert baselines["method"].tolist() == [m for m in METHODS[1:] for _ in episodes]
    by_method = {m: rows for m, rows in baselines.groupby("method", sort=False)}
    for i, episode in enumerate(episodes):
        vectors = embeddings.of(episode.id)
        question = encoder.encode([episode.question])[0]
        expected = {
            "tfidf": tfidf_top_k(episode, 3),
            "dense": dense_top_k(question, vectors, 3),
            "multistep_dense": multistep_dense(encoder, episode.question, episode.chunks, vectors, 3, 64),
        }
        for method, trace in expected.items():
            assert by_method[method]["retrieved"].iloc[i] == trace.retrieved
    assert (by_method["tfidf"]["encode_s"] == 0).all()  # fitted inside its steps
    assert by_method["dense"]["encode_s"].tolist() == pytest.approx([embeddings.encode_s / 3] * 3)
    with pytest.raises(QragInputError, match="do not record a pretrained encoder"):
        pretrained_encoder(embeddings)


EVALUATE = {
    "max_steps": 2,
    "steps_by_benchmark": {"hotpotqa": 3},
    "stop_threshold": "checkpoint",
    "multistep_dense_budget": 64,
    "device": "cpu",
    "progress": False,
    "llm_reader": None,
}
"""The evaluate parameters as conf holds them: retrieval runs to T = 3, bAbI scores at 2."""


def test_the_evaluate_nodes_and_evaluate_methods_are_the_same_evaluation(
    make_tiny_network, one_torch_thread: None
) -> None:
    checkpoint = Checkpoint.from_network(make_tiny_network(seed=3), stop_thresholds={ALL_BENCHMARKS: 0.1})
    pretrained = embed_episodes(TextEncoder.from_pretrained(num_layers=1, max_length=64), [MARY, JOHN])
    frame = episodes_to_frame([MARY, JOHN])
    q_rag = retrieve_with_q_embedder(frame, pretrained, checkpoint, EVALUATE)
    baselines = retrieve_with_baselines(frame, pretrained, EVALUATE)
    node_metrics = score_retrieval(frame, q_rag, baselines, checkpoint, EVALUATE)

    result = evaluate_methods(
        checkpoint.build_network(), checkpoint.stop_thresholds, [MARY, JOHN], pretrained, EVALUATE
    )
    picks = ["episode_id", "method", "retrieved", "q_values"]  # the seconds differ by nature
    assert result.traces[picks].equals(pd.concat([q_rag, baselines], ignore_index=True)[picks])
    assert all(len(picked) == 3 for picked in result.traces["retrieved"])
    scores = [c for c in node_metrics.columns if not c.startswith("seconds_")]
    assert result.metrics[scores].equals(node_metrics[scores])
    assert "fact_em@T=2" in scores and "fact_em@T=3" not in scores

    alone = evaluate_methods(
        checkpoint.build_network(), checkpoint.stop_thresholds, [MARY, JOHN], pretrained, EVALUATE, []
    )
    assert alone.metrics["method"].unique().tolist() == ["q_rag"]
    assert stop_setting(EVALUATE, checkpoint.stop_thresholds) == {ALL_BENCHMARKS: 0.1}
    assert stop_setting({**EVALUATE, "stop_threshold": 0.5}, checkpoint.stop_thresholds) == 0.5
