"""Benchmark: HotpotQA (distractor setting) at T=2, and MuSiQue out of distribution at T=4.

The real 1580-question dev sample in ../shared/data/hotpotqa is split once, in file
order (it is sorted by position in the official dev file): the first 1000 questions
and the 100 questions of the train-split sample train the Q-embedder (the official
train set is not available offline; the last 50 dev questions of the training part
validate: the curve and the learned stop's threshold), the other 580 evaluate it and
the three untrained baselines. Chunks are paragraphs (title + text); each question's 2
gold paragraphs are its supporting chunks. Each training draw is a fresh mix
(--mix-chunks: up to that many paragraphs of other training questions join the
question's own ten, all shuffled), so that few questions go further. Scores: fact EM
and F1 after T steps (and with the learned and oracle stops).

The same model then retrieves for the 100 real MuSiQue-Ans questions (20 paragraphs,
2-4 hops, never trained on) at T=4, against the same baselines.

    .venv/bin/python benchmarks/evaluate_hotpotqa.py     # trains first

Needs the HotpotQA and MuSiQue samples in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from common import (
    RESULTS,
    add_common_arguments,
    checkpoint_network,
    evaluate_methods,
    print_table,
    write_report,
)
from qrag_pipeline.builders.hotpotqa import build_hotpotqa_episodes
from qrag_pipeline.builders.musique import build_musique_episodes
from qrag_pipeline.sources.hotpotqa import parse_hotpotqa_file, split_records
from qrag_pipeline.sources.musique import parse_musique_file
from qrag_pipeline.training_data import hotpotqa_training_data, training_pool_texts

SAMPLE = "hotpotqa/hotpot_dev_distractor_v1.sample.json.gz"
TRAIN_SAMPLE = "hotpotqa/hotpot_train_v1.1.sample100.json.gz"
MUSIQUE = "musique/musique_ans_v1.0_train.sample100.json.gz"
T = 2
MUSIQUE_T = 4
VALIDATION_QUESTIONS = 50


def main() -> None:
    args = _arguments()
    torch.manual_seed(args.seed)
    train, held_out = split_records(parse_hotpotqa_file(args.shared / SAMPLE), args.train_questions)
    if args.train_sample:
        train = [*parse_hotpotqa_file(args.shared / TRAIN_SAMPLE), *train]
    episodes = build_hotpotqa_episodes(held_out, args.chunking)
    sampler, validation, pool_texts = None, [], []
    if args.checkpoint is None:
        train_episodes = build_hotpotqa_episodes(train, args.chunking)
        sampler, validation = hotpotqa_training_data(train_episodes, VALIDATION_QUESTIONS, args.mix_chunks)
        pool_texts = training_pool_texts([], {}, train_episodes)
    model = checkpoint_network(args, "hotpotqa", sampler, validation, T, pool_texts)
    note, train_seconds = model.note, model.train_seconds
    hotpotqa, facts = evaluate_methods(model, episodes, T, args)
    musique, musique_facts = evaluate_methods(
        model, build_musique_episodes(parse_musique_file(args.shared / MUSIQUE)), MUSIQUE_T, args
    )
    metrics = pd.concat([hotpotqa, musique], ignore_index=True)

    out = args.out or RESULTS / "evaluate_hotpotqa.json"
    write_report(
        {
            "data": f"../shared/data/{SAMPLE}: questions 1-{args.train_questions} in file order"
            f"{f' and the {TRAIN_SAMPLE} questions' if args.train_sample else ''} train (the last "
            f"{VALIDATION_QUESTIONS} dev ones validate), questions {args.train_questions + 1}-"
            f"{args.train_questions + len(held_out)} evaluate; chunking {args.chunking}, training mixes "
            f"up to {args.mix_chunks} other paragraphs in; out of distribution: "
            f"../shared/data/{MUSIQUE} at T={MUSIQUE_T}",
            "checkpoint": note,
            "train_seconds": train_seconds,
            "max_steps": T,
            **facts,
            "musique": {"max_steps": MUSIQUE_T, **musique_facts},
        },
        metrics,
        out,
    )
    for table, steps in ((hotpotqa, T), (musique, MUSIQUE_T)):
        print_table(
            table,
            [
                f"fact_em@T={steps}",
                f"fact_f1@T={steps}",
                "fact_f1@learned",
                "steps@learned",
                "fact_f1@oracle",
                "seconds_per_question_encode",
                "seconds_per_question_steps",
            ],
        )
    print(f"checkpoint: {note}\nwritten to {out} and {out.with_suffix('.csv')}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, updates=600)
    parser.add_argument("--train-questions", type=int, default=1000)
    parser.add_argument(
        "--train-sample",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the 100 questions of the train-split sample to training",
    )
    parser.add_argument(
        "--mix-chunks",
        type=int,
        default=10,
        help="up to this many other training paragraphs mixed into each training draw",
    )
    parser.add_argument("--chunking", default="paragraph", choices=["paragraph", "sentence"])
    return parser.parse_args()


if __name__ == "__main__":
    main()
