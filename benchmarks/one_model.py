"""Benchmark: one model for BabiLong qa1-qa5 and the eight RULER NIAH tasks, 1k to 10M.

Trains the default model of conf/base (train_q: the thirteen tasks with their weights,
training documents of 50-250 sentences, the frozen action encoder with its head, the
learned stop's extra-step penalty) on stories of the built-in generator in its varied
vocabulary, hidden in the *training* books, or takes --checkpoint. Then it evaluates:

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
at 10M; writes JSON and CSV to benchmarks/results/one_model.*.

    .venv/bin/python benchmarks/one_model.py                    # trains (~30 min), then evaluates
    .venv/bin/python benchmarks/one_model.py --checkpoint DIR

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pandas as pd
import torch

from common import (
    RESULTS,
    ROOT,
    Model,
    cached_episode_embeddings,
    cached_pool_embeddings,
    conf_parameters,
    device,
    key_values,
    loaded_model,
    official_stories,
    print_table,
    trained_and_saved,
    write_report,
)
from qrag_pipeline.builders.babilong import bucket_size, build_babilong_episodes
from qrag_pipeline.builders.ruler import NIAH_TASKS, build_niah_episodes
from qrag_pipeline.episodes import Episode
from qrag_pipeline.evaluation import baseline_traces, q_chunk_embeddings, q_rag_traces, score_traces
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.rl.config import learning_config
from qrag_pipeline.sources.babi_files import BABI_TASKS
from qrag_pipeline.sources.books import load_books
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.sources.story_sources import load_story_samples
from qrag_pipeline.training_data import training_data, training_pool_texts

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
    torch.manual_seed(args.seed)
    model = _model(args)
    T = args.max_steps
    episodes = _evaluation_episodes(args)
    encoder = TextEncoder.from_pretrained(**conf_parameters()["embed"]["encoder"]).to(device())
    start = time.perf_counter()
    embeddings = cached_episode_embeddings(encoder, episodes)
    embed_s = time.perf_counter() - start
    network = model.network.eval()
    with torch.inference_mode():
        q_embeddings = q_chunk_embeddings(network, episodes, embeddings, progress=True)
        traces = [q_rag_traces(network, episodes, q_embeddings, T, progress=True)]
        if args.baseline_max != "none":
            limit = bucket_size(args.baseline_max)
            compared = [e for e in episodes if len(e.chunks) <= limit]
            traces.append(baseline_traces(encoder, compared, embeddings, T, progress=True))
    metrics = score_traces(episodes, pd.concat(traces, ignore_index=True), T, model.stop_thresholds)
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
    parameters = conf_parameters()
    train_q, stories = parameters["train_q"], parameters["data_prep"]["stories"]
    tasks = list(train_q["tasks"])
    samples = [
        s
        for task in tasks
        if task in BABI_TASKS
        for s in load_story_samples({**stories, "source": "generator"}, task, "train", args.seed)
    ]
    documents = (
        load_books(args.shared / "books" / "train")
        if args.train_distractors == "books"
        else generate_prose(8, 2000, seed=args.seed, split="train")
    )
    sampler, validation = training_data(
        tasks,
        samples,
        documents,
        [],
        train_q["train_sentences"],
        train_q["validation_questions"],
        args.seed,
        train_q["task_weights"],
    )
    learning = learning_config(
        {
            **train_q["learning"],
            "seed": args.seed,
            **({"total_updates": args.updates} if args.updates else {}),
        }
    )
    network = QNetwork.from_pretrained(**{**train_q["model"], **args.model})
    pool, _ = cached_pool_embeddings(
        network.action_encoder.to(device()), training_pool_texts(samples, documents)
    )
    result, seconds, saved = trained_and_saved(network, learning, sampler, validation, pool, "one_model")
    curve = result.curves[["update", "eval_fact_em", "train_return", "loss", "updates_per_s"]].round(3)
    print(curve.to_string(index=False))
    note = (
        f"conf/base's one model trained here{f' with {args.model}' if args.model else ''}: "
        f"{learning.total_updates} updates in {seconds} s, "
        f"distractors {args.train_distractors}, seed {args.seed}; saved to {saved}"
    )
    return Model(result.network, note, seconds, result.checkpoint.stop_thresholds)


def _evaluation_episodes(args: argparse.Namespace) -> list[Episode]:
    stories = official_stories(args.shared)
    books = load_books(args.shared / "books" / "test")
    samples = {task: load_story_samples(stories, task, "test", args.seed) for task in BABI_TASKS}
    episodes = []
    for length, n in args.babilong_episodes.items():
        tasks = TASKS_AT_10M if length == "10M" else BABI_TASKS
        episodes += build_babilong_episodes({t: samples[t] for t in tasks}, books, [length], n, args.seed)
    for length, n in args.ruler_episodes.items():
        episodes += build_niah_episodes(list(NIAH_TASKS), books, [length], n, args.seed)
    return episodes


def _cost_at_10m(metrics: pd.DataFrame, episodes: list[Episode], embeddings, T: int) -> dict[str, float]:
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


def _counts(items: list[str]) -> dict[str, int]:
    return {key: int(value) for key, value in (item.split("=", 1) for item in items)}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a train_q checkpoint folder; else train one"
    )
    parser.add_argument("--updates", type=int, default=None, help="updates (default: conf/base's)")
    parser.add_argument(
        "--model",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="train_q.model settings over conf/base's, e.g. rotary_fraction=0.5",
    )
    parser.add_argument("--train-distractors", default="books", choices=["books", "prose"])
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
    parser.add_argument("--max-steps", type=int, default=4, help="T: chunks retrieved per question")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.babilong_episodes, args.ruler_episodes = (
        _counts(args.babilong_episodes),
        _counts(args.ruler_episodes),
    )
    args.model = key_values(args.model)
    return args


if __name__ == "__main__":
    main()
