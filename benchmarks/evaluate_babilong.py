"""Benchmark: Q-RAG against three untrained baselines on held-out BabiLong, 1k to 1M tokens.

Episodes come from the official bAbI *test* stories hidden in unseen *test* books. A
Q-embedder checkpoint (given with --checkpoint, or trained here by the train_q stage's
entry point on the official *train* stories of --tasks in *training* books) retrieves
T chunks per question; TF-IDF top-T, dense top-T with the pretrained encoder (faiss)
and multi-step dense retrieval without training retrieve from the same episodes with
the same T. The evaluate stage's entry point makes the metrics table, printed and
saved.

Parameters are conf/base's (T = evaluate.max_steps), with this benchmark's defaults
over them (conf/bench_evaluate_babilong: 80 updates, evaluated every 20, 50-sentence training documents,
50 validation questions per task; training tasks: --tasks) and --params over both.

Cost: each distinct chunk text is embedded once per encoder, then each question costs
T state encodings and dot products. The ratio asked of inference at any length,
(multi-step retrieval with T steps, total) / (one encoding pass over the same chunks),
is measured directly on whole 1M-token documents: their chunks encoded from scratch,
then the T steps, each timed.

    .venv/bin/python benchmarks/evaluate_babilong.py                  # trains, ~45 min on 2 cores
    .venv/bin/python benchmarks/evaluate_babilong.py --checkpoint DIR # a train_q checkpoint
    .venv/bin/python benchmarks/evaluate_babilong.py --lengths 1k --episodes 1k=2 \
        --params train_q.learning.total_updates=2 train_q.learning.eval_every=1

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import time

import torch

from common import (
    RESULTS,
    add_common_arguments,
    add_length_arguments,
    benchmark_metrics,
    checkpoint_model,
    evaluation_episodes,
    parse_arguments,
    print_table,
    seed_of,
    set_parameters,
    training_pools,
    write_report,
)
from qrag_pipeline.episodes import Episode
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.multistep import retrieve

DEFAULT_EPISODES = {"1k": 100, "32k": 100, "128k": 50, "1M": 10}
HEADLINE = (
    "fact_em@T={T}",
    "fact_f1@T={T}",
    "fact_f1@learned",
    "fact_f1@oracle",
    "answer_accuracy_rule_reader@T={T}",
    "seconds_per_question_encode",
    "seconds_per_question_steps",
)


def main() -> None:
    args = _arguments()
    seed, T = seed_of(args.parameters), args.parameters["evaluate"]["max_steps"]
    torch.manual_seed(seed)
    lengths = {length: args.episodes[length] for length in args.lengths}
    episodes = evaluation_episodes(args.parameters, args.shared, lengths, babilong_tasks=lambda _: args.tasks)

    model = checkpoint_model(
        args, f"babilong_{'_'.join(args.tasks)}", lambda: training_pools(args.parameters, args.shared)
    )
    network, note, train_seconds = model.network, model.note, model.train_seconds
    metrics, facts = benchmark_metrics(model, episodes, args.parameters)
    with torch.inference_mode():
        cost = _cost_at(network, [e for e in episodes if e.length_bucket == args.cost_length], T, args)

    out = args.out or RESULTS / "evaluate_babilong.json"
    write_report(
        {
            "data": "official bAbI en-10k test stories in ../shared/data/books/test (unseen books); "
            "training (when done here): en-10k train stories (qa3 from en/) in books/train",
            "checkpoint": note,
            "train_seconds": train_seconds,
            "max_steps": T,
            "episodes_per_task": {length: args.episodes[length] for length in args.lengths},
            **facts,
            "cost_at_length": {"length": args.cost_length, **cost},
        },
        metrics,
        out,
    )
    print_table(metrics, [name.format(T=T) for name in HEADLINE])
    if cost:
        print(
            f"\nat {args.cost_length} ({cost['chunks_per_document']:.0f} chunks, "
            f"{cost['documents']} documents): "
            f"one encoding pass {cost['encode_pass_s']} s, T={T} steps {cost['steps_s']} s, "
            f"ratio total/encoding {cost['ratio_total_to_encode_pass']}"
        )
    print(f"checkpoint: {note}\nwritten to {out} and {out.with_suffix('.csv')}")


def _cost_at(
    network: QNetwork, episodes: list[Episode], max_steps: int, args: argparse.Namespace
) -> dict[str, float]:
    """Seconds of one encoding pass over a whole document's chunks and of the T steps
    over them, measured from scratch on the first `--cost-episodes` documents."""
    encode, steps, chunks = [], [], []
    for episode in episodes[: args.cost_episodes]:
        start = time.perf_counter()
        vectors = network.action_encoder.encode(episode.chunks, progress=True)
        encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        retrieve(network, episode.question, episode.chunks, vectors, max_steps)
        steps.append(time.perf_counter() - start)
        chunks.append(len(episode.chunks))
    if not encode:
        return {}
    mean_encode, mean_steps = sum(encode) / len(encode), sum(steps) / len(steps)
    return {
        "documents": len(encode),
        "chunks_per_document": sum(chunks) / len(chunks),
        "encode_pass_s": round(mean_encode, 2),
        "steps_s": round(mean_steps, 3),
        "ratio_total_to_encode_pass": round((mean_encode + mean_steps) / mean_encode, 4),
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--tasks", nargs="+", default=["qa1", "qa2", "qa3"], help="evaluated, and trained on")
    add_length_arguments(parser, DEFAULT_EPISODES)
    parser.add_argument("--cost-length", default="1M")
    parser.add_argument("--cost-episodes", type=int, default=2)
    args = parse_arguments(parser)
    return set_parameters(parser, args, "bench_evaluate_babilong", {"train_q.tasks": args.tasks})


if __name__ == "__main__":
    main()
