"""Benchmark: RULER needle-in-a-haystack, the eight tasks at 4k to 1M tokens.

A Q-embedder trained at 4k on NIAH episodes whose essay haystack is *training* book
text (or --checkpoint) and the three untrained baselines retrieve T chunks from
episodes whose essay haystack is unseen *test* book text; noise and needle haystacks
are generated. Scores: RULER's fraction of gold values in the retrieved chunks and the
all-or-nothing variant, averaged over the eight tasks per length and method.

    .venv/bin/python benchmarks/evaluate_ruler.py        # trains, ~35 min on 2 cores

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
    checkpoint_network,
    evaluate_methods,
    parse_arguments,
    print_table,
    write_report,
)
from qrag_pipeline.builders.ruler import NIAH_TASKS, build_niah_episodes
from qrag_pipeline.sources.books import load_books
from qrag_pipeline.training_data import niah_training_data, training_pool_texts

DEFAULT_EPISODES = {"4k": 10, "32k": 3, "128k": 2, "1M": 1}
TRAIN_SENTENCES = 160  # the 4k bucket


def main() -> None:
    args = _arguments()
    torch.manual_seed(args.seed)
    tasks = list(NIAH_TASKS)
    test_books = load_books(args.shared / "books" / "test")
    episodes = [
        episode
        for length in args.lengths
        for episode in build_niah_episodes(tasks, test_books, [length], args.episodes[length], args.seed)
    ]
    sampler, validation, pool_texts = None, [], []
    if args.checkpoint is None:
        train_books = load_books(args.shared / "books" / "train")
        sampler, validation = niah_training_data(tasks, train_books, TRAIN_SENTENCES, 10, args.seed)
        pool_texts = training_pool_texts([], train_books)
    model = checkpoint_network(args, "ruler_niah", sampler, validation, args.max_steps, pool_texts)
    note, train_seconds = model.note, model.train_seconds
    metrics, facts = evaluate_methods(model, episodes, args.max_steps, args)
    average = _average_over_tasks(metrics, args.max_steps)

    out = args.out or RESULTS / "evaluate_ruler.json"
    write_report(
        {
            "data": f"NIAH episodes generated here (seed {args.seed}); essay haystack: "
            "../shared/data/books/test sentences (training: books/train)",
            "checkpoint": note,
            "train_seconds": train_seconds,
            "max_steps": args.max_steps,
            "episodes_per_task": {length: args.episodes[length] for length in args.lengths},
            **facts,
            "average_over_tasks": average.to_dict(orient="records"),
        },
        metrics,
        out,
    )
    T = args.max_steps
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
    add_common_arguments(parser, updates=15)
    add_length_arguments(parser, DEFAULT_EPISODES)
    return parse_arguments(parser)


if __name__ == "__main__":
    main()
