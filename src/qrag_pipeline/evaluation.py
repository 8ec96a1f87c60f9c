"""Evaluation of Q-RAG and the untrained baselines on one episode set: traced, timed,
scored with the metrics of BENCHMARKS.md.

Retrieval and scoring are two steps with a table between them, so that a metric or a
reader can change without retrieving again:

- the traces table (`TRACE_COLUMNS`): one row per episode and method, the chunks in
  retrieval order with the score of each pick, and the question's cost split into its
  share of the chunk encoding (the set's encoding time over its questions) and its own
  step time;
- the metrics table: one row per benchmark, task, length bucket and method, the mean
  of every per-question metric, each column named after its metric and stop rule.

Every method retrieves the same T chunks (`max_steps`) of the same episodes, so the
methods differ only in how they pick.

The evaluate pipeline's three nodes call `q_retrieval_traces`,
`baseline_retrieval_traces` and `retrieval_metrics` with the `evaluate` parameters;
`evaluate_methods` composes the same three for the benchmarks, so that they score
as the pipeline does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from qrag_pipeline.builders.hotpotqa import HOTPOTQA
from qrag_pipeline.builders.musique import MUSIQUE
from qrag_pipeline.builders.ruler import NIAH_TASKS
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.metrics import (
    FactScores,
    aggregate,
    babi_answer_correct,
    fact_scores,
    niah_all_found,
    niah_values_found,
    niah_values_in,
    squad_exact_match,
    squad_f1,
)
from qrag_pipeline.models.encoder import TextEncoder, same_embeddings
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.readers.llm_reader import LLMReader
from qrag_pipeline.readers.rule_reader import RuleReader
from qrag_pipeline.reporting.metrics_table import GROUP_COLUMNS
from qrag_pipeline.retrieval.baselines import dense_top_k, multistep_dense, tfidf_top_k
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings, embed_episodes
from qrag_pipeline.retrieval.multistep import retrieve
from qrag_pipeline.retrieval.trace import Trace, fixed_steps, learned_stop, oracle_stop
from qrag_pipeline.rl.inference import ALL_BENCHMARKS
from qrag_pipeline.sources.babi_files import BABI_TASKS

Q_RAG = "q_rag"
TFIDF = "tfidf"
DENSE = "dense"
MULTISTEP_DENSE = "multistep_dense"
OPEN_DOMAIN_BENCHMARKS = (HOTPOTQA, MUSIQUE)
"""Wikipedia multi-hop questions, their answers scored SQuAD-style."""
METHODS = (Q_RAG, TFIDF, DENSE, MULTISTEP_DENSE)
"""Every method evaluated, in the order the metrics table lists them."""

TRACE_COLUMNS = (
    "episode_id",
    "benchmark",
    "task",
    "length_bucket",
    "method",
    "retrieved",
    "q_values",
    "encode_s",
    "steps_s",
)
NO_SCORES = FactScores(math.nan, math.nan, math.nan, math.nan)
CHECKPOINT_THRESHOLDS = "checkpoint"
"""`evaluate.stop_threshold`'s value for the thresholds the checkpoint learned."""

RetrieveOne = Callable[[Episode], Trace]


@dataclass
class MethodsEvaluation:
    """Every method's traces on one episode set (`TRACE_COLUMNS`) and their metrics table."""

    traces: pd.DataFrame
    metrics: pd.DataFrame


def evaluate_methods(
    network: QNetwork,
    stop_thresholds: Mapping[str, float],
    episodes: Sequence[Episode],
    pretrained: EpisodeEmbeddings,
    evaluate: Mapping[str, Any],
    baseline_episodes: Sequence[Episode] | None = None,
) -> MethodsEvaluation:
    """The evaluate pipeline on one episode set: Q-RAG's traces, the baselines' and the
    metrics table, at the `evaluate` parameters (T, steps per benchmark, chunk budget,
    stop threshold, reader) as conf holds them.

    `pretrained` are the episodes' chunks embedded by the pretrained encoder and
    `stop_thresholds` those the checkpoint chose. The baselines retrieve from
    `baseline_episodes` (None: all of `episodes`; none: Q-RAG alone): their figures
    do not depend on the model, so a run may spare them the longest documents.
    """
    traces = [q_retrieval_traces(network, episodes, pretrained, evaluate)]
    compared = episodes if baseline_episodes is None else baseline_episodes
    if compared:
        traces.append(baseline_retrieval_traces(compared, pretrained, evaluate))
    table = pd.concat(traces, ignore_index=True)
    return MethodsEvaluation(table, retrieval_metrics(episodes, table, stop_thresholds, evaluate))


def q_retrieval_traces(
    network: QNetwork,
    episodes: Sequence[Episode],
    pretrained: EpisodeEmbeddings,
    evaluate: Mapping[str, Any],
) -> pd.DataFrame:
    """Q-RAG's traces at the `evaluate` parameters: `retrieval_steps` greedy steps per
    question, over the pretrained chunk embeddings themselves for a frozen action
    encoder (the paper's trained one embeds the chunks first: `q_chunk_embeddings`)."""
    progress = evaluate["progress"]
    embeddings = q_chunk_embeddings(network, episodes, pretrained, progress)
    return q_rag_traces(network, episodes, embeddings, retrieval_steps(evaluate), progress)


def baseline_retrieval_traces(
    episodes: Sequence[Episode], pretrained: EpisodeEmbeddings, evaluate: Mapping[str, Any]
) -> pd.DataFrame:
    """The baselines' traces with the same T as Q-RAG (`retrieval_steps`), questions
    embedded by the encoder that embedded the chunks (`pretrained_encoder`)."""
    encoder = pretrained_encoder(pretrained, resolve_device(evaluate["device"]))
    return baseline_traces(
        encoder,
        episodes,
        pretrained,
        retrieval_steps(evaluate),
        evaluate["multistep_dense_budget"],
        evaluate["progress"],
    )


def retrieval_metrics(
    episodes: Sequence[Episode],
    traces: pd.DataFrame,
    stop_thresholds: Mapping[str, float],
    evaluate: Mapping[str, Any],
) -> pd.DataFrame:
    """The metrics table of `traces` at the `evaluate` parameters: each benchmark at its
    T (`steps_for`), the learned stop at `stop_setting`'s threshold, and an LLM
    reader's answer scores only when `evaluate.llm_reader` names a model."""
    llm_reader = (
        LLMReader.from_pretrained(evaluate["llm_reader"], device=str(resolve_device(evaluate["device"])))
        if evaluate["llm_reader"]
        else None
    )
    return score_traces(
        episodes,
        traces,
        evaluate["max_steps"],
        stop_setting(evaluate, stop_thresholds),
        llm_reader,
        evaluate["steps_by_benchmark"],
    )


def stop_setting(
    evaluate: Mapping[str, Any], stop_thresholds: Mapping[str, float]
) -> float | Mapping[str, float]:
    """The learned stop's threshold: the checkpoint's `stop_thresholds` (one per
    benchmark, chosen on its validation episodes) unless `evaluate.stop_threshold`
    gives one number."""
    setting = evaluate["stop_threshold"]
    return stop_thresholds if setting == CHECKPOINT_THRESHOLDS else setting


def retrieval_steps(evaluate: Mapping[str, Any]) -> int:
    """Steps every method retrieves: the largest T any benchmark is scored at."""
    return max([evaluate["max_steps"], *evaluate["steps_by_benchmark"].values()])


def steps_for(benchmark: str, max_steps: int, steps_by_benchmark: Mapping[str, int] | None) -> int:
    """The T `benchmark` is scored at: its own in `steps_by_benchmark`, else `max_steps`."""
    return (steps_by_benchmark or {}).get(benchmark, max_steps)


def timed_traces(
    retrieve_one: RetrieveOne,
    episodes: Sequence[Episode],
    progress: bool = False,
    method: str = "",
) -> tuple[list[Trace], list[float]]:
    """Each episode's trace and the wall seconds of its own retrieval.

    One question at a time, so that each time is that question's own: a batch
    (`retrieve_batch`) is faster for a whole set but has no per-question cost.
    """
    traces: list[Trace] = []
    seconds: list[float] = []
    for episode in tqdm(episodes, desc=method, unit="question", disable=not progress):
        start = time.perf_counter()
        traces.append(retrieve_one(episode))
        seconds.append(time.perf_counter() - start)
    return traces, seconds


def trace_rows(
    episodes: Sequence[Episode],
    method: str,
    traces: Sequence[Trace],
    encode_s: float,
    steps_s: Sequence[float],
) -> pd.DataFrame:
    """The traces table rows of one method, in episode order.

    `encode_s` is the encoding time of the whole set, shared equally by its questions;
    `steps_s` holds each question's own step time.
    """
    share = encode_s / max(len(episodes), 1)
    rows = [
        {
            "episode_id": episode.id,
            "benchmark": episode.benchmark,
            "task": episode.task,
            "length_bucket": episode.length_bucket,
            "method": method,
            "retrieved": list(trace.retrieved),
            "q_values": list(trace.q_values),
            "encode_s": share,
            "steps_s": seconds,
        }
        for episode, trace, seconds in zip(episodes, traces, steps_s, strict=True)
    ]
    return pd.DataFrame(rows, columns=list(TRACE_COLUMNS))


def q_chunk_embeddings(
    network: QNetwork,
    episodes: Sequence[Episode],
    pretrained: EpisodeEmbeddings,
    progress: bool = False,
) -> EpisodeEmbeddings:
    """The chunk embeddings Q-RAG scores `episodes` with.

    A frozen action encoder is the pretrained encoder that made `pretrained`, so those
    serve as they are: one matrix for the dense baselines and every such checkpoint
    (each applies its own head). The paper's trained action encoder embeds the chunks
    itself, as does one whose encoder differs from the one that made `pretrained`.
    """
    if shares_pretrained_embeddings(network, pretrained):
        return pretrained
    return embed_episodes(network.action_encoder, episodes, str(pretrained.vectors.dtype), progress)


def shares_pretrained_embeddings(network: QNetwork, pretrained: EpisodeEmbeddings) -> bool:
    """Whether Q-RAG scores the `pretrained` chunk embeddings as they are: its action
    encoder is frozen and is the encoder that made them."""
    return network.frozen_action_encoder and same_embeddings(
        pretrained.encoder, network.action_encoder.encoder_config()
    )


def q_rag_traces(
    network: QNetwork,
    episodes: Sequence[Episode],
    embeddings: EpisodeEmbeddings,
    max_steps: int,
    progress: bool = False,
) -> pd.DataFrame:
    """Q-RAG's traces: `max_steps` greedy steps over chunk embeddings made by the
    network's action encoder (see `q_chunk_embeddings`), states cut to the network's
    own chunk budget."""

    def one(episode: Episode) -> Trace:
        vectors = embeddings.of(episode.id)
        return retrieve(network, episode.question, episode.chunks, vectors, max_steps)

    traces, steps_s = timed_traces(one, episodes, progress, Q_RAG)
    return trace_rows(episodes, Q_RAG, traces, embeddings.encode_s, steps_s)


def baseline_traces(
    encoder: TextEncoder,
    episodes: Sequence[Episode],
    embeddings: EpisodeEmbeddings,
    max_steps: int,
    multistep_dense_budget: int,
    progress: bool = False,
) -> pd.DataFrame:
    """The three untrained baselines' traces, `max_steps` chunks each; multi-step
    dense's queries cut each retrieved chunk to `multistep_dense_budget` tokens.

    `embeddings` are the chunks embedded by `encoder` (see `pretrained_encoder`). The
    dense methods share their encoding time; TF-IDF has no separate encoding pass (its
    vectoriser is fitted on each document), so all of its time counts as steps.
    """
    methods: dict[str, tuple[RetrieveOne, float]] = {
        TFIDF: (lambda e: tfidf_top_k(e, max_steps), 0.0),
        DENSE: (
            lambda e: dense_top_k(encoder.encode([e.question])[0], embeddings.of(e.id), max_steps),
            embeddings.encode_s,
        ),
        MULTISTEP_DENSE: (
            lambda e: multistep_dense(
                encoder,
                e.question,
                e.chunks,
                embeddings.of(e.id),
                max_steps,
                multistep_dense_budget,
            ),
            embeddings.encode_s,
        ),
    }
    tables = []
    for method, (retrieve_one, encode_s) in methods.items():
        traces, steps_s = timed_traces(retrieve_one, episodes, progress, method)
        tables.append(trace_rows(episodes, method, traces, encode_s, steps_s))
    return pd.concat(tables, ignore_index=True)


def pretrained_encoder(embeddings: EpisodeEmbeddings, device: torch.device | str = "cpu") -> TextEncoder:
    """The pretrained encoder that made `embeddings`, from their record of it, so that
    questions are embedded as the chunks were (by torch, whichever backend encoded the
    chunks: a question is one text)."""
    if not embeddings.encoder.get("name_or_path"):
        raise QragInputError(
            "these embeddings do not record a pretrained encoder, so questions "
            "cannot be embedded like their chunks. Fix: embed with "
            "TextEncoder.from_pretrained (the embed pipeline's "
            "pretrained_chunk_embeddings)."
        )
    record = {key: value for key, value in embeddings.encoder.items() if key != "backend"}
    return TextEncoder.from_pretrained(**record).to(device)


def score_traces(
    episodes: Sequence[Episode],
    traces: pd.DataFrame,
    max_steps: int,
    stop_threshold: float | Mapping[str, float],
    llm_reader: LLMReader | None = None,
    steps_by_benchmark: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """The metrics table: per benchmark, task, length bucket and method, the number of
    episodes and the mean of every metric `question_scores` computes (NaNs skipped),
    with the seconds per question of chunk encoding and of the steps.

    `stop_threshold` is the learned stop's threshold: one number, or one per benchmark
    as a checkpoint stores them (`stop_threshold_for`).

    Each benchmark is scored at its T: `steps_by_benchmark[benchmark]`, else
    `max_steps` (the traces must hold that many picks). With `llm_reader`, columns of
    that reader's answer scores after the T steps are added; without one there are
    no such columns at all.
    """
    table = _checked_traces(traces)
    row_episodes = _episodes_of(table, episodes)
    row_traces = [_trace(row) for row in table.itertuples()]
    steps = [steps_for(e.benchmark, max_steps, steps_by_benchmark) for e in row_episodes]
    rows = [
        {
            **question_scores(
                episode, method, trace, t, stop_threshold_for(stop_threshold, episode.benchmark)
            ),
            "seconds_per_question_encode": float(encode_s),
            "seconds_per_question_steps": float(steps_s),
        }
        for episode, method, trace, t, encode_s, steps_s in zip(
            row_episodes,
            table["method"],
            row_traces,
            steps,
            table["encode_s"],
            table["steps_s"],
            strict=True,
        )
    ]
    if llm_reader is not None:
        items = [
            (episode.question, episode.chunks, fixed_steps(trace, t))
            for episode, trace, t in zip(row_episodes, row_traces, steps, strict=True)
        ]
        answers = llm_reader.answer_batch(items)
        for row, episode, answer, t in zip(rows, row_episodes, answers, steps, strict=True):
            row |= answer_scores(episode, answer, f"llm_reader@T={t}")
    groups: dict[tuple[str, ...], list[dict[str, float]]] = {}
    for episode, method, row in zip(row_episodes, table["method"], rows, strict=True):
        key = (episode.benchmark, episode.task, episode.length_bucket, str(method))
        groups.setdefault(key, []).append(row)
    return pd.DataFrame([_group_row(key, groups[key]) for key in _in_report_order(groups, episodes)])


def stop_threshold_for(setting: float | Mapping[str, float], benchmark: str) -> float:
    """The learned stop's threshold for `benchmark`: `setting` itself, or its entry for
    the benchmark in a checkpoint's mapping (else the one chosen on all benchmarks)."""
    if not isinstance(setting, Mapping):
        return float(setting)
    if benchmark not in setting and ALL_BENCHMARKS not in setting:
        raise QragInputError(
            f"the checkpoint learned no stop threshold (it has {dict(setting)}), so "
            "Q-RAG's learned stop cannot be scored. Fix: set evaluate.stop_threshold to "
            "a number, or retrain the checkpoint with this version."
        )
    return float(setting.get(benchmark, setting.get(ALL_BENCHMARKS)))


def question_scores(
    episode: Episode, method: str, trace: Trace, max_steps: int, stop_threshold: float
) -> dict[str, float]:
    """One question's metrics, each named after its metric and stop rule.

    Fact scores after T = `max_steps` fixed steps; with the learned stop and the
    number of steps it keeps (Q-RAG only: a baseline's scores are no Q values, so a
    Q threshold means nothing for it and its columns are NaN); with the oracle stop;
    and the rule reader's answer accuracy from the chunks of the T steps.

    The stop rules cut the first T steps only: a trace runs to the largest T of the
    evaluated benchmarks, and a benchmark scored at a smaller T (HotpotQA's 2) had its
    learned-stop threshold chosen on traces of that T, not beyond.
    """
    fixed = fixed_steps(trace, max_steps)
    scores = fact_scores(episode.support, fixed).as_row(f"T={max_steps}")
    trace = Trace(fixed, trace.q_values[: len(fixed)])
    if method == Q_RAG:
        learned = learned_stop(trace, stop_threshold)
        scores |= fact_scores(episode.support, learned).as_row("learned")
        scores["steps@learned"] = float(len(learned))
    else:
        scores |= NO_SCORES.as_row("learned")
        scores["steps@learned"] = math.nan
    oracle = oracle_stop(trace, episode.support)
    scores |= fact_scores(episode.support, oracle).as_row("oracle")
    return scores | retrieval_answer_scores(episode, fixed, f"T={max_steps}")


def retrieval_answer_scores(episode: Episode, retrieved: Sequence[int], stop: str) -> dict[str, float]:
    """What the retrieved chunks alone answer, by the benchmark's own rule: the bAbI
    rule reader's accuracy, RULER's fraction of the gold values in the retrieved text
    (and all-or-nothing); nothing for HotpotQA, whose answer needs an LLM reader."""
    if episode.task in BABI_TASKS:
        answer = RuleReader(episode.task).answer(episode.question, episode.chunks, retrieved)
        return {f"answer_accuracy_rule_reader@{stop}": answer_correct(episode, answer)}
    if episode.task in NIAH_TASKS:
        return {
            f"niah_values@{stop}": niah_values_found(episode, retrieved),
            f"niah_all@{stop}": niah_all_found(episode, retrieved),
        }
    return {}


def answer_scores(episode: Episode, prediction: str, reader: str) -> dict[str, float]:
    """One reader's answer, scored by the benchmark's answer metric (BENCHMARKS.md):
    bAbI exact match of the one word; HotpotQA and MuSiQue SQuAD-style EM and F1; RULER the
    fraction of the gold values the answer contains."""
    if episode.task in NIAH_TASKS:
        return {f"answer_values_{reader}": niah_values_in(episode, prediction)}
    if episode.benchmark in OPEN_DOMAIN_BENCHMARKS:
        return {
            f"answer_em_{reader}": squad_exact_match(prediction, episode.answer),
            f"answer_f1_{reader}": squad_f1(prediction, episode.answer),
        }
    return {f"answer_accuracy_{reader}": answer_correct(episode, prediction)}


def answer_correct(episode: Episode, prediction: str) -> float:
    """bAbI answer accuracy (exact match of the one word) of one prediction; NaN for a
    task that is not bAbI's (see `answer_scores` for the others)."""
    if episode.task not in BABI_TASKS:
        return math.nan
    return float(babi_answer_correct(prediction, episode.answer))


def _trace(row: Any) -> Trace:
    """A traces-table row's trace (lists in memory, numpy arrays from Parquet)."""
    return Trace([int(i) for i in row.retrieved], [float(q) for q in row.q_values])


def _checked_traces(traces: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in TRACE_COLUMNS if column not in traces.columns]
    if missing:
        raise QragInputError(
            f"the traces table lacks columns {missing}. Fix: build it with "
            "q_rag_traces / baseline_traces (the evaluate pipeline)."
        )
    return traces


def _episodes_of(table: pd.DataFrame, episodes: Sequence[Episode]) -> list[Episode]:
    """The episode of every traces-table row; traces of unknown episodes fail."""
    by_id = {episode.id: episode for episode in episodes}
    unknown = sorted(set(table["episode_id"]) - by_id.keys())
    if unknown:
        raise QragInputError(
            f"traces of episodes {unknown[:5]} that the episode set lacks. Fix: score "
            "traces with the episodes they were retrieved from (the same version of "
            "eval_episodes)."
        )
    return [by_id[episode_id] for episode_id in table["episode_id"]]


def _group_row(key: tuple[str, ...], rows: list[dict[str, float]]) -> dict[str, Any]:
    means = {name: summary.mean for name, summary in aggregate(rows).items()}
    group = dict(zip(GROUP_COLUMNS, key, strict=True))
    return {**group, "n_episodes": len(rows), **means}


def _in_report_order(
    groups: dict[tuple[str, ...], list[dict[str, float]]], episodes: Sequence[Episode]
) -> list[tuple[str, ...]]:
    """Groups in the episode set's order of benchmark, task and length bucket (so
    1k comes before 4k, which sorting the names would not give), then in `METHODS`
    order (other methods last)."""
    buckets = dict.fromkeys((e.benchmark, e.task, e.length_bucket) for e in episodes)
    bucket_rank = {bucket: rank for rank, bucket in enumerate(buckets)}

    def rank(key: tuple[str, ...]) -> tuple[int, int]:
        method = key[-1]
        method_rank = METHODS.index(method) if method in METHODS else len(METHODS)
        return bucket_rank[key[:-1]], method_rank

    return sorted(groups, key=rank)
