"""Benchmark: seconds per update of the paper's learner and of the default one.

Both train on the same data with the same seed and settings for
train_q.learning.total_updates updates each (this benchmark's default: 20), one after
the other in this process: the official bAbI train stories of one task hidden in the
training books (50-sentence documents by default), conf/base's train_q settings, the
learner's inputs those of the train_q stage's entry point (`training_inputs`). They
differ only in the action side: the paper's learner trains its action encoder and
encodes every new document's chunks with the online and the target encoder at each
reset; the default (conf/base's train_q.model) keeps it frozen and looks the chunks up
in the training pools embedded once. Prints, side by side, the mean seconds per update
of each part of an update and their shares, the one-time pool embedding on its own
line, and last `speedup: X.XX` (paper seconds per update / default seconds per
update). --params sets any parameter over conf/base's and conf/bench_learner_speed.

With `--rollouts ENVSxSTEPS ...` it instead times the default learner at each rollout
size (parallel environments x steps per update) and prints transitions per second and
seconds per update, to size the rollout for the hardware.

With `--nproc N` it instead times the default learner on 1 and on N data-parallel
processes (`training_processes.launch`, gloo on the CPU, nccl on CUDA; each process
steps its own environments, the gradients are averaged): seconds per update and
transitions per second of all processes together, and the speed-up of N over 1.

    .venv/bin/python benchmarks/learner_speed.py
    .venv/bin/python benchmarks/learner_speed.py --rollouts 8x8 16x8 8x16 16x16
    .venv/bin/python benchmarks/learner_speed.py --params train_q.learning.total_updates=15 \
        --rollouts 8x8 16x8 8x16 16x16
    .venv/bin/python benchmarks/learner_speed.py --nproc 2
    .venv/bin/python benchmarks/learner_speed.py --task thirteen --rollouts 8x8 \
        --out benchmarks/results/learner_speed_thirteen.json

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import (
    RESULTS,
    THIRTEEN,
    THIRTEEN_ENV,
    add_run_arguments,
    add_task_argument,
    machine,
    pool_embeddings,
    seed_of,
    set_parameters,
    timed_learner,
    training_pools,
)
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.rl.config import QLearningConfig, distributed_config, learning_config
from qrag_pipeline.rl.learner import UPDATE_PARTS
from qrag_pipeline.rl.ranks import SINGLE_PROCESS
from qrag_pipeline.training_data import TrainingPools
from qrag_pipeline.training_processes import launch, process_group


def main() -> None:
    args = _arguments()
    parameters, seed = args.parameters, seed_of(args.parameters)
    torch.manual_seed(seed)
    device = resolve_device("auto")
    train_q = parameters["train_q"]
    pools = training_pools(parameters, args.shared)
    learning = learning_config(train_q["learning"])
    default_model = dict(train_q["model"])
    paper_model = {**default_model, "frozen_action_encoder": False, "action_head": "none"}

    pool = pool_embeddings(parameters, pools)
    pool_note = (
        f"{len(pool.texts)} distinct pool texts, embedded once in {pool.encode_s:.1f} s "
        "(shards the benchmarks' cache held are read, not encoded)"
    )

    if args.rollouts:
        _rollout_sizes(args, train_q, pools, pool, device)
        return
    if args.nproc:
        _processes(args, train_q, pools, pool, learning, device)
        return
    runs = {}
    for name, model in (("paper", paper_model), ("default", default_model)):
        run = timed_learner({**train_q, "model": model}, pools, pool, SINGLE_PROCESS, device)
        runs[name] = _summary(model, run.history, run.setup_s)
        print(f"{name}: {runs[name]['seconds_per_update']:.2f} s/update", flush=True)

    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": (
            "conf/base's thirteen tasks: generated stories, book distractors"
            if args.task == THIRTEEN
            else f"official bAbI {args.task} train stories (en-10k; en/ for qa3) in the training books"
        )
        + f", {train_q['train_sentences']}-sentence documents",
        "updates": learning.total_updates,
        "learning": {k: v for k, v in train_q["learning"].items() if k != "total_updates"},
        "pool_embedding": pool_note,
        "runs": runs,
        "speedup": runs["paper"]["seconds_per_update"] / runs["default"]["seconds_per_update"],
    }
    out = args.out or RESULTS / "learner_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    _print(report, out)


def _rollout_sizes(
    args: argparse.Namespace,
    train_q: dict[str, Any],
    pools: TrainingPools,
    pool: EpisodeEmbeddings,
    device: torch.device,
) -> None:
    """The default learner's throughput at each rollout size, into rollout_sizes.json."""
    sizes: dict[str, Any] = {}
    for size in args.rollouts:
        envs, steps = (int(n) for n in size.split("x"))
        sized = {**train_q, "learning": {**train_q["learning"], "num_envs": envs, "num_steps": steps}}
        run = timed_learner(sized, pools, pool, SINGLE_PROCESS, device)
        sizes[size] = _summary(train_q["model"], run.history, 0.0)
        print(
            f"{size:>6}: {sizes[size]['seconds_per_update']:.2f} s/update, "
            f"{sizes[size]['transitions_per_s']:.1f} transitions/s",
            flush=True,
        )
    out = args.out or RESULTS / "rollout_sizes.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "updates": train_q["learning"]["total_updates"],
                "sizes": sizes,
            },
            indent=2,
        )
    )
    print(f"written to {out}")


def _processes(
    args: argparse.Namespace,
    train_q: dict[str, Any],
    pools: TrainingPools,
    pool: EpisodeEmbeddings,
    learning: QLearningConfig,
    device: torch.device,
) -> None:
    """The default learner on one process and on `args.nproc`, into processes.json."""
    runs: dict[str, Any] = {}
    for nproc in (1, args.nproc):
        if nproc == 1:
            run = timed_learner(train_q, pools, pool, SINGLE_PROCESS, device)
            summary = _summary(train_q["model"], run.history, 0.0)
        else:
            settings = distributed_config({"nproc_per_node": nproc})
            summary = launch(settings, _timed_rank, train_q, pools, pool, str(device))[0]
        transitions = nproc * learning.num_envs * learning.num_steps * learning.grad_accumulation
        summary["transitions_per_s_all_processes"] = transitions / summary["seconds_per_update"]
        runs[str(nproc)] = summary
        print(
            f"{nproc} process(es): {summary['seconds_per_update']:.2f} s/update, "
            f"{summary['transitions_per_s_all_processes']:.1f} transitions/s in all",
            flush=True,
        )
    one, many = runs["1"], runs[str(args.nproc)]
    speedup = many["transitions_per_s_all_processes"] / one["transitions_per_s_all_processes"]
    out = args.out or RESULTS / "learner_processes.json"
    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "updates": learning.total_updates,
        "runs": runs,
        "speedup": speedup,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"written to {out}")
    print(f"transitions/s, {args.nproc} processes over 1: {speedup:.2f}x")


def _timed_rank(
    train_q: dict[str, Any], pools: TrainingPools, pool: EpisodeEmbeddings, device_name: str
) -> dict[str, Any] | None:
    """One rank's timed updates (in a launched worker); rank 0's summary."""
    with process_group(device_name, "auto") as (ranks, device):
        run = timed_learner(train_q, pools, pool, ranks, device)
        return _summary(train_q["model"], run.history, 0.0) if ranks.is_first else None


def _summary(model: dict[str, Any], history: list[dict[str, float]], setup_s: float) -> dict[str, Any]:
    total = float(np.mean([1.0 / m["updates_per_s"] for m in history]))
    parts = {part: float(np.mean([m[f"seconds_{part}"] for m in history])) for part in UPDATE_PARTS}
    parts["other"] = total - sum(parts.values())
    return {
        "action_side": "trained"
        if not model["frozen_action_encoder"]
        else f"frozen, head {model['action_head']}",
        "setup_s": setup_s,
        "seconds_per_update": total,
        "part_seconds_per_update": parts,
        "transitions_per_s": float(np.mean([m["transitions_per_s"] for m in history])),
        "mean_train_return": float(np.nanmean([m["mean_return"] for m in history])),
    }


def _print(report: dict[str, Any], out: Path) -> None:
    paper, default = report["runs"]["paper"], report["runs"]["default"]
    print(f"\nseconds per update, mean of {report['updates']} updates ({report['machine']})")
    print(f"{'part':<16} {'paper':>9} {'share':>6} {'default':>9} {'share':>6}")
    for part in paper["part_seconds_per_update"]:
        p, d = paper["part_seconds_per_update"][part], default["part_seconds_per_update"][part]
        print(
            f"{part:<16} {p:>9.3f} {p / paper['seconds_per_update']:>6.0%} "
            f"{d:>9.3f} {d / default['seconds_per_update']:>6.0%}"
        )
    print(f"{'total':<16} {paper['seconds_per_update']:>9.3f} {'':>6} {default['seconds_per_update']:>9.3f}")
    print(f"action side: paper {paper['action_side']}; default {default['action_side']}")
    print(f"one-time, shared by every run on these pools: {report['pool_embedding']}")
    print(f"written to {out}")
    print(f"speedup: {report['speedup']:.2f}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_task_argument(parser)
    parser.add_argument(
        "--rollouts",
        nargs="*",
        default=[],
        help="time the default learner at these rollout sizes, ENVSxSTEPS",
    )
    parser.add_argument(
        "--nproc",
        type=int,
        default=0,
        help="time the default learner on 1 and on this many data-parallel processes",
    )
    add_run_arguments(parser)
    args = parser.parse_args()
    if args.task == THIRTEEN:
        return set_parameters(parser, args, THIRTEEN_ENV, {"train_q.learning.total_updates": 20})
    return set_parameters(parser, args, "bench_learner_speed", {"train_q.tasks": [args.task]})


if __name__ == "__main__":
    main()
