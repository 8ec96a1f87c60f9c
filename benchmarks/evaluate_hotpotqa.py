"""Benchmark: HotpotQA (distractor setting) at T=2, and MuSiQue out of distribution at T=4.

The real 1580-question dev sample in ../shared/data/hotpotqa is split once, in file
order (it is sorted by position in the official dev file): the first 1000 questions
(data_prep.hotpotqa.train_questions) and the 100 questions of the train-split sample
train the Q-embedder by the train_q stage's entry point (the official train set is
not available offline; the last 50 dev questions of the training part validate: the
curve and the learned stop's threshold), the other 580 evaluate it and the three
untrained baselines. Chunks are paragraphs (title + text, data_prep.hotpotqa.chunking);
each question's 2 gold paragraphs are its supporting chunks. Each training draw is a
fresh mix (train_q.hotpotqa_mix_chunks: up to that many paragraphs of other training
questions join the question's own ten, all shuffled), so that few questions go
further. Scores (the evaluate stage's entry point): fact EM and F1 after T steps
(evaluate.steps_by_benchmark.hotpotqa; and with the learned and oracle stops), and
where the chain breaks: each pick's hit rate and the second hop's given the first, by
question type (`pick_breakdown`).

The same model then retrieves for the 100 real MuSiQue-Ans questions (20 paragraphs,
2-4 hops, never trained on) at T = evaluate.max_steps, against the same baselines.

Parameters are conf/base's, with this benchmark's defaults over them (conf/bench_evaluate_hotpotqa:
HotpotQA alone, conf/base's frozen paragraph side with its linear head and the label
term (0.602 fact EM@2 against 0.574 with the paragraph side trained and the reward
alone, at ~5 s per update against 79 s on 2 AVX2 cores), 150 updates evaluated every 10
on 50 validation questions and the best of them kept, trained at T = 2, retrieved paragraphs
cut to 128 tokens in the state, not 64, and no positional rotation, as a question's
paragraphs come unordered; conf/base's lexical channel kept: docs/results.md has what
each of these buys) and --params over both.

    .venv/bin/python benchmarks/evaluate_hotpotqa.py     # trains first
    .venv/bin/python benchmarks/evaluate_hotpotqa.py --checkpoint DIR
    .venv/bin/python benchmarks/evaluate_hotpotqa.py --params train_q.hotpotqa_mix_chunks=0 \
        data_prep.hotpotqa.chunking=sentence

Needs the HotpotQA and MuSiQue samples in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pandas as pd
import torch

from common import (
    RESULTS,
    add_common_arguments,
    benchmark_evaluation,
    checkpoint_model,
    embed_stage_encoder,
    print_table,
    seed_of,
    set_parameters,
    write_report,
)
from qrag_pipeline.builders.hotpotqa import HOTPOTQA, build_hotpotqa_episodes
from qrag_pipeline.builders.musique import MUSIQUE, build_musique_episodes
from qrag_pipeline.episodes import Episode
from qrag_pipeline.evaluation import steps_for
from qrag_pipeline.retrieval.pick_breakdown import pick_breakdown
from qrag_pipeline.sources.hotpotqa import HotpotRecord, parse_hotpotqa_file, split_records
from qrag_pipeline.sources.musique import parse_musique_file
from qrag_pipeline.training_data import TrainingPools

SAMPLE = "hotpotqa/hotpot_dev_distractor_v1.sample.json.gz"
TRAIN_SAMPLE = "hotpotqa/hotpot_train_v1.1.sample100.json.gz"
MUSIQUE_SAMPLE = "musique/musique_ans_v1.0_train.sample100.json.gz"


def main() -> None:
    args = _arguments()
    parameters, hotpotqa = args.parameters, args.parameters["data_prep"]["hotpotqa"]
    torch.manual_seed(seed_of(parameters))
    train, held_out = split_records(parse_hotpotqa_file(args.shared / SAMPLE), hotpotqa["train_questions"])
    if args.train_sample:
        train = [*parse_hotpotqa_file(args.shared / TRAIN_SAMPLE), *train]
    episodes = build_hotpotqa_episodes(held_out, hotpotqa["chunking"])
    model = checkpoint_model(
        args,
        "hotpotqa",
        lambda: TrainingPools(hotpotqa_episodes=build_hotpotqa_episodes(train, hotpotqa["chunking"])),
    )
    note, train_seconds = model.note, model.train_seconds
    musique = parse_musique_file(args.shared / MUSIQUE_SAMPLE)
    musique_episodes = build_musique_episodes(musique)
    hotpotqa_result, facts = benchmark_evaluation(model, episodes, parameters)
    musique_result, musique_facts = benchmark_evaluation(model, musique_episodes, parameters)
    hotpotqa_metrics, musique_metrics = hotpotqa_result.metrics, musique_result.metrics
    metrics = pd.concat([hotpotqa_metrics, musique_metrics], ignore_index=True)
    evaluate = parameters["evaluate"]
    T, musique_T = (
        steps_for(benchmark, evaluate["max_steps"], evaluate["steps_by_benchmark"])
        for benchmark in (HOTPOTQA, MUSIQUE)
    )
    budget = model.network.chunk_budget
    bridge = _bridge_title_in_state(episodes, held_out, embed_stage_encoder(parameters).truncate, budget)
    breakdowns = {
        "hotpotqa": pick_breakdown(
            hotpotqa_result.traces, episodes, _groups(episodes, [record.type for record in held_out]), T
        ),
        "musique": pick_breakdown(
            musique_result.traces,
            musique_episodes,
            _groups(musique_episodes, [f"{record.hops} hops" for record in musique]),
            musique_T,
        ),
    }
    validation = parameters["train_q"]["validation_questions"]

    out = args.out or RESULTS / "evaluate_hotpotqa.json"
    write_report(
        {
            "data": f"../shared/data/{SAMPLE}: questions 1-{hotpotqa['train_questions']} in "
            f"file order"
            f"{f' and the {TRAIN_SAMPLE} questions' if args.train_sample else ''} train (the last "
            f"{validation} dev ones validate), questions {hotpotqa['train_questions'] + 1}-"
            f"{hotpotqa['train_questions'] + len(held_out)} evaluate; chunking "
            f"{hotpotqa['chunking']}, training mixes up to "
            f"{parameters['train_q']['hotpotqa_mix_chunks']} other paragraphs in; out of "
            f"distribution: ../shared/data/{MUSIQUE_SAMPLE} at T={musique_T}",
            "checkpoint": note,
            "train_seconds": train_seconds,
            "max_steps": T,
            **facts,
            "musique": {"max_steps": musique_T, **musique_facts},
            "bridge_title_in_state": bridge,
            "pick_breakdown": {name: table.to_dict(orient="records") for name, table in breakdowns.items()},
        },
        metrics,
        out,
    )
    for table, steps in ((hotpotqa_metrics, T), (musique_metrics, musique_T)):
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
    print(f"\nbridge questions whose other gold title a gold paragraph names: {bridge}")
    for name, table in breakdowns.items():
        print(f"\n{name}: each pick's hit rate by question group (pick_breakdown)")
        print(table.to_string(index=False, float_format="{:.3f}".format))
    print(f"checkpoint: {note}\nwritten to {out} and {out.with_suffix('.csv')}")


def _bridge_title_in_state(
    episodes: list[Episode], records: list[HotpotRecord], truncate: Callable[[str, int], str], budget: int
) -> dict[str, float | int]:
    """Of the bridge questions, the share where one gold paragraph names the other's
    title within its first `budget` tokens (as a state text holds a retrieved chunk:
    `QNetwork.state_text`), and anywhere in it: the second hop is found from the state,
    so a bridge named only past the budget is out of its sight."""
    seen, anywhere, count = 0, 0, 0
    for episode, record in zip(episodes, records, strict=True):
        titles = sorted({title for title, _ in record.supporting_facts})
        if record.type != "bridge" or len(titles) != 2:
            continue
        gold = {title: next(c for c in episode.chunks if c.startswith(f"{title}:")) for title in titles}
        count += 1
        pairs = [(gold[a], b.lower()) for a, b in (titles, titles[::-1])]
        seen += any(other in truncate(text, budget).lower() for text, other in pairs)
        anywhere += any(other in text.lower() for text, other in pairs)
    return {
        "bridge_questions": count,
        f"named_in_first_{budget}_tokens": round(seen / max(count, 1), 3),
        "named_anywhere": round(anywhere / max(count, 1), 3),
    }


def _groups(episodes: list[Episode], groups: list[str]) -> dict[str, str]:
    """Each episode's id to its question's group (episodes are built in record order)."""
    return {episode.id: group for episode, group in zip(episodes, groups, strict=True)}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument(
        "--train-sample",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the 100 questions of the train-split sample to training",
    )
    return set_parameters(parser, parser.parse_args(), "bench_evaluate_hotpotqa")


if __name__ == "__main__":
    main()
