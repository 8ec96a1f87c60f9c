"""Benchmark: HotpotQA (distractor setting), supporting-paragraph retrieval at T=2.

The real 1580-question dev sample in ../shared/data/hotpotqa is split once, in file
order (it is sorted by position in the official dev file): the first 1000 questions
train the Q-embedder (the official train set is not available offline), the other 580
evaluate it and the three untrained baselines. Chunks are paragraphs (title + text);
each question's 2 gold paragraphs are its supporting chunks. Scores: fact EM and F1
after T=2 steps (and with the learned and oracle stops).

    .venv/bin/python benchmarks/evaluate_hotpotqa.py     # trains first

Needs the HotpotQA sample in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse

import torch
from common import RESULTS, add_common_arguments, checkpoint_network, evaluate_methods, print_table, write_report

from qrag_pipeline.builders.hotpotqa import build_hotpotqa_episodes
from qrag_pipeline.sources.hotpotqa import parse_hotpotqa_file, split_records
from qrag_pipeline.training_data import hotpotqa_training_data, training_pool_texts

SAMPLE = "hotpotqa/hotpot_dev_distractor_v1.sample.json.gz"
T = 2


def main() -> None:
    args = _arguments()
    torch.manual_seed(args.seed)
    train, held_out = split_records(parse_hotpotqa_file(args.shared / SAMPLE), args.train_questions)
    episodes = build_hotpotqa_episodes(held_out, args.chunking)
    sampler, validation, pool_texts = None, [], []
    if args.checkpoint is None:
        train_episodes = build_hotpotqa_episodes(train, args.chunking)
        sampler, validation = hotpotqa_training_data(train_episodes, 50)
        pool_texts = training_pool_texts([], {}, train_episodes)
    model = checkpoint_network(args, "hotpotqa", sampler, validation, T, pool_texts)
    note, train_seconds = model.note, model.train_seconds
    metrics, facts = evaluate_methods(model, episodes, T, args)

    out = args.out or RESULTS / "evaluate_hotpotqa.json"
    write_report({
        "data": f"../shared/data/{SAMPLE}: questions 1-{args.train_questions} in file order train "
        f"(the last 50 of them validate), questions {args.train_questions + 1}-{len(train) + len(held_out)} "
        f"evaluate; chunking {args.chunking}",
        "checkpoint": note, "train_seconds": train_seconds, "max_steps": T, **facts,
    }, metrics, out)
    print_table(metrics, [f"fact_em@T={T}", f"fact_f1@T={T}", "fact_f1@learned", "steps@learned",
                          "fact_f1@oracle", "seconds_per_question_encode", "seconds_per_question_steps"])
    print(f"checkpoint: {note}\nwritten to {out} and {out.with_suffix('.csv')}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, updates=60)
    parser.add_argument("--train-questions", type=int, default=1000)
    parser.add_argument("--chunking", default="paragraph", choices=["paragraph", "sentence"])
    return parser.parse_args()


if __name__ == "__main__":
    main()
