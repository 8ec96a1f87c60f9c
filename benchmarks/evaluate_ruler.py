"""Benchmark: RULER needle-in-a-haystack, the eight tasks at 4k to 1M tokens.

A Q-embedder trained at 4k by the train_q stage's entry point on NIAH episodes whose
essay haystack is *training* book text (or --checkpoint) and the three untrained
baselines retrieve T chunks from episodes whose essay haystack is unseen *test* book
text; noise and needle haystacks are generated. Scores (the evaluate stage's entry
point): RULER's fraction of gold values in the retrieved chunks and the all-or-nothing
variant, averaged over the eight tasks per length and method.

Parameters are conf/base's (T = evaluate.max_steps), with this benchmark's defaults
over them (conf/bench_evaluate_ruler: the eight tasks, 15 updates evaluated every 3, 160-sentence
training documents, 10 validation questions per task) and --params over both.

    .venv/bin/python benchmarks/evaluate_ruler.py        # trains, ~35 min on 2 cores
    .venv/bin/python benchmarks/evaluate_ruler.py --checkpoint DIR --lengths 4k 32k --episodes 4k=10 32k=3
    .venv/bin/python benchmarks/evaluate_ruler.py --lengths 4k 128k --episodes 4k=10 128k=2 \
        --params train_q.learning.total_updates=40 train_q.learning.eval_every=10

Needs the books in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse

import pandas as pd
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

DEFAULT_EPISODES = {"4k": 10, "32k": 3, "128k": 2, "1M": 1}


def main() -> None:
    args = _arguments()
    seed, T = seed_of(args.parameters), args.parameters["evaluate"]["max_steps"]
    torch.manual_seed(seed)
    lengths = {length: args.episodes[length] for length in args.lengths}
    episodes = evaluation_episodes(args.parameters, args.shared, ruler=lengths)
    model = checkpoint_model(args, "ruler_niah", lambda: training_pools(args.parameters, args.shared))
    note, train_seconds = model.note, model.train_seconds
    metrics, facts = benchmark_metrics(model, episodes, args.parameters)
    average = _average_over_tasks(metrics, T)

    out = args.out or RESULTS / "evaluate_ruler.json"
    write_report(
        {
            "data": f"NIAH episodes generated here (seed {seed}); essay haystack: "
            "../shared/data/books/test sentences (training: books/train)",
            "checkpoint": note,
            "train_seconds": train_seconds,
            "max_steps": T,
            "episodes_per_task": {length: args.episodes[length] for length in args.lengths},
            **facts,
            "average_over_tasks": average.to_dict(orient="records"),
        },
        metrics,
        out,
    )
    print_table(
        metrics,
        [
            f"niah_values@T={T}",
            f"niah_all@T={T}",
            "fact_f1@oracle",
            "seconds_per_question_encode",
            "seconds_per_question_steps",
        ],
    )
    print("\naverage over the eight tasks (RULER score = fraction of gold values retrieved):")
    print(
        average.pivot(index="method", columns="length_bucket", values=f"niah_values@T={T}")[args.lengths]
        .round(3)
        .to_string()
    )
    print(f"checkpoint: {note}\nwritten to {out} and {out.with_suffix('.csv')}")


def _average_over_tasks(metrics: pd.DataFrame, max_steps: int) -> pd.DataFrame:
    """Per length and method, the unweighted mean over the NIAH tasks of both scores."""
    columns = [f"niah_values@T={max_steps}", f"niah_all@T={max_steps}"]
    return metrics.groupby(["length_bucket", "method"], sort=False)[columns].mean().reset_index()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    add_length_arguments(parser, DEFAULT_EPISODES)
    return set_parameters(parser, parse_arguments(parser), "bench_evaluate_ruler")


if __name__ == "__main__":
    main()
