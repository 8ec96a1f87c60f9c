"""Benchmark: what each learner reaches in the same wall-clock budget, or at equal updates.

Trains the paper's learner (both encoders trained, chunks re-encoded at each reset)
and the default one (conf/base's train_q.model: frozen action encoder, training pools
embedded once), or the default with each form of the label term on the supporting
facts (`td`: none, the reward alone; `margin`, `margin-decay`, `softmax`,
`softmax-decay`: train_q.learning.label_loss and label_margin_decay; the ablation of
docs/method.md), by the train_q stage's entry point on one bAbI task, training stories
(data_prep.stories; this benchmark's default: the official train files) hidden in the
training books, each for a number of updates that fills the budget on this machine
(`--updates LEARNER=N`; the training seconds are measured and printed). Then scores
fact EM@T (Q-RAG greedy, T = evaluate.max_steps, by the evaluate stage's entry point)
on episodes from the official bAbI *test* stories in the unseen *test* books at each
length, and draws the validation curves (held-out training stories) against
wall-clock minutes.

Parameters are conf/base's, with this benchmark's defaults over them (conf/bench_learner_quality:
50-sentence training documents, 100 validation questions, all of them evaluated;
training task: --task) and --params over both; the paper's learner is train_q.model
with its action side trained. `--task thirteen` trains conf/base's one model instead
(its thirteen tasks, generated stories and document lengths, on one_model.py's book
distractors: conf/bench_one_model) and scores it on the test stories of qa2 and qa3
(--score-tasks).

    .venv/bin/python benchmarks/learner_quality.py --task qa2 --updates paper=130 default=900
    .venv/bin/python benchmarks/learner_quality.py --task qa3 --learners default paper \
        --updates default=1500 paper=90 --lengths 4k 32k \
        --params "train_q.train_sentences=[50, 250]" train_q.learning.per_fact_reward=0.2
    .venv/bin/python benchmarks/learner_quality.py --task qa3 \
        --learners td margin softmax margin-decay \
        --updates td=150 margin=150 softmax=150 margin-decay=150 --lengths 1k 32k \
        --episodes 200 --curve-points 10 --params "train_q.train_sentences=[50, 250]" \
        --out benchmarks/results/label_ablation_qa3.json
    .venv/bin/python benchmarks/learner_quality.py --task thirteen --learners td softmax \
        --updates td=160 softmax=160 --lengths 1k 32k --episodes 200 --curve-points 8 \
        --out benchmarks/results/label_ablation_thirteen.json

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from common import (  # noqa: E402
    RESULTS,
    ROOT,
    THIRTEEN,
    THIRTEEN_ENV,
    add_run_arguments,
    add_task_argument,
    counts_for,
    episode_embeddings,
    evaluation_episodes,
    machine,
    pool_embeddings,
    q_rag_fact_em,
    seed_of,
    set_parameters,
    trained_and_saved,
    training_pools,
    training_stories,
)
from qrag_pipeline.evaluation import evaluate_methods  # noqa: E402
from qrag_pipeline.sources.babi_files import BABI_TASKS  # noqa: E402

LEARNERS = ("paper", "default", "td", "margin", "margin-decay", "softmax", "softmax-decay")
LABEL_TERMS = {
    "td": {"label_loss": "none"},
    "margin": {"label_loss": "margin", "label_margin_decay": False},
    "margin-decay": {"label_loss": "margin", "label_margin_decay": True},
    "softmax": {"label_loss": "softmax", "label_margin_decay": False},
    "softmax-decay": {"label_loss": "softmax", "label_margin_decay": True},
}
"""The ablation's learners: conf/base's model and learner with the label term's form
set; its weight, margin and temperature stay conf/base's (or --params')."""


def main() -> None:
    args = _arguments()
    parameters, seed = args.parameters, seed_of(args.parameters)
    torch.manual_seed(seed)
    train_q, evaluate = parameters["train_q"], parameters["evaluate"]
    stories = training_stories(parameters, args.shared)
    pools = training_pools(parameters, args.shared)
    test = {
        (task, length): evaluation_episodes(
            parameters, args.shared, {length: args.episodes}, babilong_tasks=lambda _, task=task: [task]
        )
        for task in args.score_tasks
        for length in args.lengths
    }
    models = {
        **dict.fromkeys(LEARNERS, train_q["model"]),
        "paper": {**train_q["model"], "frozen_action_encoder": False, "action_head": "none"},
    }
    pool = pool_embeddings(parameters, pools)
    test_embeddings = {cell: episode_embeddings(parameters, episodes) for cell, episodes in test.items()}
    T = evaluate["max_steps"]

    out = args.out or RESULTS / f"learner_quality_{args.task}.json"
    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": (
            f"official bAbI {args.task} train stories (en-10k; en/ for qa3)"
            if stories["source"] == "babi_files"
            else f"{stories['generated_train_stories']} stories per task of the built-in bAbI generator"
        )
        + f" in the training books, {train_q['train_sentences']}-sentence documents; "
        f"test: {args.episodes} episodes per task and length from the official test stories "
        f"of {', '.join(args.score_tasks)} in the test books",
        "task": args.task,
        "learning": {k: v for k, v in train_q["learning"].items() if k != "total_updates"},
        "runs": {},
    }
    for name in args.learners:
        updates = args.updates[name]
        run = {
            **train_q,
            "model": models[name],
            "learning": {
                **train_q["learning"],
                **LABEL_TERMS.get(name, {}),
                "total_updates": updates,
                "eval_every": max(1, updates // args.curve_points),
            },
        }
        result, train_seconds, saved = trained_and_saved(run, pools, pool, f"{args.task}_{name}")
        scores: dict[str, dict[str, float]] = {task: {} for task in args.score_tasks}
        for (task, length), episodes in test.items():
            scores[task][length] = q_rag_fact_em(
                evaluate_methods(
                    result.network,
                    result.checkpoint.stop_thresholds,
                    episodes,
                    test_embeddings[(task, length)],
                    evaluate,
                    baseline_episodes=[],
                ).metrics,
                T,
            )
        report["runs"][name] = {
            "model": models[name],
            "label_term": {k: v for k, v in run["learning"].items() if k.startswith("label_")},
            "checkpoint": str(saved.relative_to(ROOT)),
            "updates": updates,
            "train_seconds": train_seconds,
            "seconds_per_update": round(train_seconds / updates, 3),
            "fact_em": scores,
            "curve": _curve_with_minutes(result.curves),
        }
        print(
            f"{name}: {updates} updates in {train_seconds / 60:.1f} min, fact EM@{T} {scores}",
            flush=True,
        )
        _write(report, out)  # after each learner: a run cut short keeps the learners it finished
    _print(report, out)


def _write(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    _plot(report, out.with_suffix(".png"))


def _curve_with_minutes(curves: pd.DataFrame) -> list[dict[str, float]]:
    """The validation curve's rows with the wall-clock minutes at each row's end."""
    previous = [0, *curves["update"].tolist()[:-1]]
    seconds = ((curves["update"] - pd.Series(previous)) / curves["updates_per_s"]).cumsum()
    table = curves.assign(minutes=seconds / 60)
    columns = ["update", "minutes", "eval_fact_em", "train_fact_em", "loss", "loss_td", "loss_labels"]
    return table[columns].to_dict(orient="records")


def _plot(report: dict[str, Any], path: Path) -> None:
    """Each learner's validation curve against updates (left) and wall-clock minutes."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4), dpi=100, sharey=True)
    for name, run in report["runs"].items():
        curve = pd.DataFrame(run["curve"]).dropna(subset=["eval_fact_em"])
        for axis, x in zip(axes, ("update", "minutes"), strict=True):
            axis.plot(
                curve[x],
                curve["eval_fact_em"],
                marker="o",
                markersize=3,
                label=f"{name} ({run['updates']} updates)",
            )
    axes[0].set_xlabel("update")
    axes[1].set_xlabel("training wall-clock minutes (2 CPU cores)")
    axes[0].set_ylabel("held-out fact EM@T (validation)")
    for axis in axes:
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize="small")
    trained_on = "conf/base's thirteen tasks" if report["task"] == THIRTEEN else report["task"]
    figure.suptitle(f"{trained_on}: validation curves")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _print(report: dict[str, Any], out: Path) -> None:
    print(f"\n{report['task']}: fact EM on the official test stories in the test books ({report['machine']})")
    for name, run in report["runs"].items():
        print(
            f"{name:>8}: {run['updates']} updates, {run['train_seconds'] / 60:.1f} min "
            f"({run['seconds_per_update']} s/update); fact EM {run['fact_em']}"
        )
        for row in run["curve"]:
            if row["eval_fact_em"] == row["eval_fact_em"]:
                print(
                    f"          update {row['update']:>5}  {row['minutes']:6.1f} min  "
                    f"validation EM {row['eval_fact_em']:.3f}"
                )
    print(f"written to {out} and {out.with_suffix('.png')}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_task_argument(parser)
    parser.add_argument(
        "--score-tasks",
        nargs="+",
        default=None,
        choices=BABI_TASKS,
        help=f"the tasks whose test stories score each learner (default: --task; for {THIRTEEN}: qa2 qa3)",
    )
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument(
        "--updates",
        nargs="+",
        default=["paper=130", "default=900"],
        help="updates per learner, LEARNER=N, sized to the time budget",
    )
    parser.add_argument("--lengths", nargs="+", default=["1k", "32k"])
    parser.add_argument("--episodes", type=int, default=200, help="test episodes per length")
    parser.add_argument("--curve-points", type=int, default=20, help="validation points per learner's curve")
    add_run_arguments(parser)
    args = parser.parse_args()
    args.updates = counts_for(parser, args.updates, args.learners, "--updates")
    if args.task == THIRTEEN:
        args.score_tasks = args.score_tasks or ["qa2", "qa3"]
        return set_parameters(parser, args, THIRTEEN_ENV)
    args.score_tasks = args.score_tasks or [args.task]
    return set_parameters(parser, args, "bench_learner_quality", {"train_q.tasks": [args.task]})


if __name__ == "__main__":
    main()
