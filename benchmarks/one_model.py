"""Benchmark: one model for BabiLong qa1-qa5 and the eight RULER NIAH tasks, 1k to 10M.

Trains the default model of conf/base by the train_q stage's entry point (train_q: the
thirteen tasks with their weights, training documents of 50-250 sentences, the frozen
action encoder with its head, the learned stop's extra-step penalty) on stories of the
built-in generator in its varied vocabulary (data_prep.stories), hidden in the
*training* books (this benchmark's default for data_prep.distractors.source), or takes
--checkpoint. Then it evaluates, by the evaluate stage's entry point at T =
evaluate.max_steps:

- BabiLong: the official bAbI *test* stories hidden in the unseen *test* books, qa1-qa5
  at 1k, 32k (100 questions per task), 128k (50), 1M (20), and qa1-qa3 at 10M (10). A
  10M document has 400,000 sentences and the five test books hold 65,693: it cycles
  through them from a random start, so each book sentence occurs about six times
  (embedded once), and the story's facts sit at random places among them;
- RULER NIAH: the eight tasks at 4k, 32k, 128k and 1M, essay haystack from the test
  books, fresh keys and values.

Q-RAG runs at every length, with the learned stop's thresholds the checkpoint chose on
its validation episodes; TF-IDF, dense and multi-step dense up to --baseline-max. Each
distinct chunk text is embedded once, by the pretrained encoder, for all of them.
Prints the BabiLong table (fact EM@T, rule-reader accuracy, learned-stop F1 and steps,
oracle-stop F1), the RULER table (per task and the eight-task average) and the cost
at 10M; writes JSON and CSV to benchmarks/results/one_model.*. --params sets any
parameter over conf/base's (and over conf/bench_one_model).

    .venv/bin/python benchmarks/one_model.py                    # trains (~30 min), then evaluates
    .venv/bin/python benchmarks/one_model.py --checkpoint DIR
    .venv/bin/python benchmarks/one_model.py --params train_q.model.rotary_fraction=0.25 \
        --ruler-episodes 4k=10 32k=4 128k=2 --baseline-max none

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import resource
import time

import pandas as pd
import torch

from common import (
    RESULTS,
    Model,
    add_common_arguments,
    benchmark_metrics,
    counts_for,
    episode_embeddings,
    evaluation_episodes,
    loaded_model,
    pool_embeddings,
    print_table,
    seed_of,
    set_parameters,
    trained_and_saved,
    training_pools,
    write_report,
)
from qrag_pipeline.builders.babilong import bucket_size
from qrag_pipeline.episodes import Episode
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.sources.babi_files import BABI_TASKS

BABILONG_EPISODES = {"1k": 100, "32k": 100, "128k": 50, "1M": 20, "10M": 10}
RULER_EPISODES = {"4k": 20, "32k": 10, "128k": 4, "1M": 2}
TASKS_AT_10M = ("qa1", "qa2", "qa3")
PUBLISHED_QA3_ORACLE_F1 = {"1k": 0.978, "32k": 0.971, "128k": 0.968, "1M": 0.965}
BABILONG_COLUMNS = (
    "fact_em@T={T}",
    "answer_accuracy_rule_reader@T={T}",
    "fact_f1@learned",
    "steps@learned",
    "fact_f1@oracle",
    "seconds_per_question_steps",
)
RULER_COLUMNS = ("niah_values@T={T}", "niah_all@T={T}", "fact_f1@learned", "steps@learned")


def main() -> None:
    args = _arguments()
    parameters = args.parameters
    T = parameters["evaluate"]["max_steps"]
    torch.manual_seed(seed_of(parameters))
    model = _model(args)
    episodes = _evaluation_episodes(args)
    start = time.perf_counter()
    embeddings = episode_embeddings(parameters, episodes)
    embed_s = time.perf_counter() - start
    compared = (
        []
        if args.baseline_max == "none"
        else [e for e in episodes if len(e.chunks) <= bucket_size(args.baseline_max)]
    )
    metrics, facts = benchmark_metrics(model, episodes, parameters, embeddings, compared)
    ruler_average = (
        metrics[metrics.benchmark == "ruler"]
        .groupby(["length_bucket", "method"], sort=False)[[f"niah_values@T={T}", f"niah_all@T={T}"]]
        .mean()
        .reset_index()
    )
    cost = _cost_at_10m(metrics, episodes, embeddings, T)

    out = args.out or RESULTS / "one_model.json"
    write_report(
        {
            "data": "training: stories of the built-in generator (varied vocabulary) in "
            "../shared/data/books/train; "
            "evaluation: official bAbI en-10k test stories and RULER NIAH episodes in books/test (unseen); "
            "a 10M document cycles through the test books' 65,693 sentences",
            "checkpoint": model.note,
            "train_seconds": model.train_seconds,
            "max_steps": T,
            "stop_thresholds": model.stop_thresholds,
            "stop_threshold": facts["stop_threshold"],
            "babilong_episodes_per_task": args.babilong_episodes,
            "ruler_episodes_per_task": args.ruler_episodes,
            "baselines_up_to": args.baseline_max,
            "distinct_chunks_embedded": len(embeddings.texts),
            "embed_seconds": round(embed_s, 1),
            "embeddings_encode_s": round(embeddings.encode_s, 1),
            "ruler_average_over_tasks": ruler_average.to_dict(orient="records"),
            "published_qa3_oracle_f1": PUBLISHED_QA3_ORACLE_F1,
            "cost_at_10M": cost,
            "peak_memory_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        },
        metrics,
        out,
    )
    print("\nBabiLong (official test stories, unseen test books)")
    print_table(metrics[metrics.benchmark == "babilong"], [c.format(T=T) for c in BABILONG_COLUMNS])
    print("\nRULER NIAH")
    print_table(metrics[metrics.benchmark == "ruler"], [c.format(T=T) for c in RULER_COLUMNS])
    print("\nRULER eight-task average of niah_values (the RULER score):")
    print(
        ruler_average.pivot(index="method", columns="length_bucket", values=f"niah_values@T={T}")
        .round(3)
        .to_string()
    )
    print(f"\ncost at 10M: {cost}")
    print(f"checkpoint: {model.note}; stop thresholds {model.stop_thresholds}\nwritten to {out}")


def _model(args: argparse.Namespace) -> Model:
    """--checkpoint's model, or conf/base's one model trained here and saved."""
    if args.checkpoint is not None:
        return loaded_model(args.checkpoint)
    parameters, seed = args.parameters, seed_of(args.parameters)
    train_q = parameters["train_q"]
    pools = training_pools(parameters, args.shared)
    pool = pool_embeddings(parameters, pools)
    result, seconds, saved = trained_and_saved(train_q, pools, pool, "one_model")
    curve = result.curves[["update", "eval_fact_em", "train_return", "loss", "updates_per_s"]].round(3)
    print(curve.to_string(index=False))
    overrides = f" with --params {' '.join(args.params)}" if args.params else ""
    note = (
        f"conf/base's one model trained here{overrides}: "
        f"{train_q['learning']['total_updates']} updates in {seconds} s, "
        f"distractors {parameters['data_prep']['distractors']['source']}, seed {seed}; saved to {saved}"
    )
    return Model(result.network, note, seconds, result.checkpoint.stop_thresholds)


def _evaluation_episodes(args: argparse.Namespace) -> list[Episode]:
    """BabiLong qa1-qa5 (qa1-qa3 at 10M) and the eight NIAH tasks, built as data_prep
    builds them."""
    return evaluation_episodes(
        args.parameters,
        args.shared,
        args.babilong_episodes,
        args.ruler_episodes,
        lambda length: TASKS_AT_10M if length == "10M" else BABI_TASKS,
    )


def _cost_at_10m(
    metrics: pd.DataFrame, episodes: list[Episode], embeddings: EpisodeEmbeddings, T: int
) -> dict[str, float]:
    """A 10M question's encoding (its distinct texts at this run's measured rate) and
    its T steps (measured per question)."""
    at_10m = [e for e in episodes if e.length_bucket == "10M"]
    if not at_10m:
        return {}
    distinct = len(set(at_10m[0].chunks))
    rate = len(embeddings.texts) / embeddings.encode_s
    rows = metrics[(metrics.length_bucket == "10M") & (metrics.method == "q_rag")]
    return {
        "chunks_per_document": len(at_10m[0].chunks),
        "distinct_texts_per_document": distinct,
        "encode_texts_per_s": round(rate, 1),
        "encode_s_per_document": round(distinct / rate, 1),
        f"steps_s_per_question_T{T}": round(float(rows.seconds_per_question_steps.mean()), 3),
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument(
        "--babilong-episodes", nargs="+", default=[f"{k}={v}" for k, v in BABILONG_EPISODES.items()]
    )
    parser.add_argument(
        "--ruler-episodes", nargs="+", default=[f"{k}={v}" for k, v in RULER_EPISODES.items()]
    )
    parser.add_argument(
        "--baseline-max",
        default="1M",
        help="the longest length the baselines run at; none: Q-RAG alone (their "
        "figures do not depend on the model)",
    )
    args = parser.parse_args()
    args.babilong_episodes = counts_for(parser, args.babilong_episodes, [], "--babilong-episodes")
    args.ruler_episodes = counts_for(parser, args.ruler_episodes, [], "--ruler-episodes")
    return set_parameters(parser, args, "bench_one_model")


if __name__ == "__main__":
    main()
