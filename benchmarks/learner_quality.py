"""Benchmark: what each learner reaches in the same wall-clock budget.

Trains the paper's learner (both encoders trained, chunks re-encoded at each reset)
and the default one (conf/base: frozen action encoder, training pools embedded once)
on one bAbI task, official train stories hidden in the training books, each for a
number of updates that fills the budget on this machine (`--updates LEARNER=N`; the
training seconds are measured and printed). Then scores fact EM@T (greedy, T =
max_steps) on episodes from the official bAbI *test* stories in the unseen *test*
books at each length, and draws the validation curves (held-out training stories)
against wall-clock minutes.

    .venv/bin/python benchmarks/learner_quality.py --task qa2 --updates paper=130 default=900

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    cached_episode_embeddings,
    cached_pool_embeddings,
    conf_parameters,
    counts_for,
    key_values,
    machine,
    official_stories,
)
from common import device as compute_device  # noqa: E402
from qrag_pipeline.builders.babilong import build_babilong_episodes  # noqa: E402
from qrag_pipeline.builders.lengths import LengthRange  # noqa: E402
from qrag_pipeline.checkpoints import save_checkpoint  # noqa: E402
from qrag_pipeline.evaluation import q_chunk_embeddings  # noqa: E402
from qrag_pipeline.models.q_network import QNetwork  # noqa: E402
from qrag_pipeline.retrieval.multistep import retrieve_batch  # noqa: E402
from qrag_pipeline.rl.config import learning_config  # noqa: E402
from qrag_pipeline.rl.inference import fact_em_rate  # noqa: E402
from qrag_pipeline.sources.books import load_books  # noqa: E402
from qrag_pipeline.sources.story_sources import load_story_samples  # noqa: E402
from qrag_pipeline.training import train_q_embedder  # noqa: E402
from qrag_pipeline.training_data import babilong_training_data, training_pool_texts  # noqa: E402

LEARNERS = ("paper", "default")


def main() -> None:
    args = _arguments()
    torch.manual_seed(args.seed)
    device = compute_device()
    train_q = conf_parameters()["train_q"]
    stories = official_stories(args.shared)
    train_spec = (
        stories
        if args.train_source == "files"
        else {"source": "generator", "generated_train_stories": args.generated_stories}
    )
    train_samples = load_story_samples(train_spec, args.task, "train", args.seed)
    test_samples = load_story_samples(stories, args.task, "test", args.seed)
    train_books = load_books(args.shared / "books" / "train")
    test_books = load_books(args.shared / "books" / "test")
    sampler, validation = babilong_training_data(
        train_samples,
        train_books,
        [args.task],
        LengthRange.of(args.train_sentences if len(args.train_sentences) > 1 else args.train_sentences[0]),
        args.validation_episodes,
        args.seed,
    )
    test = {
        length: build_babilong_episodes(
            {args.task: test_samples}, test_books, [length], args.episodes, args.seed
        )
        for length in args.lengths
    }
    overrides = key_values(args.set)
    learning_values = {
        **train_q["learning"],
        "seed": args.seed,
        "eval_episodes": args.validation_episodes,
        **overrides,
    }
    models = {
        "default": {**train_q["model"], **key_values(args.model)},
        "paper": {**train_q["model"], "frozen_action_encoder": False, "action_head": "none"},
    }
    frozen_encoder = QNetwork.from_pretrained(**models["default"]).action_encoder.to(device)
    pool, _ = cached_pool_embeddings(frozen_encoder, training_pool_texts(train_samples, train_books))
    test_embeddings = {
        length: cached_episode_embeddings(frozen_encoder, episodes) for length, episodes in test.items()
    }

    out = args.out or RESULTS / f"learner_quality_{args.task}.json"
    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": (
            f"official bAbI {args.task} train stories (en-10k; en/ for qa3)"
            if args.train_source == "files"
            else f"{args.generated_stories} stories of the built-in bAbI generator"
        )
        + f" in the training books, {args.train_sentences}-sentence documents; "
        f"test: {args.episodes} episodes per length from the official test stories in the test books",
        "task": args.task,
        "learning": {k: v for k, v in learning_values.items() if k != "total_updates"},
        "runs": {},
    }
    for name in args.learners:
        updates = args.updates[name]
        learning = learning_config(
            {**learning_values, "total_updates": updates, "eval_every": max(1, updates // args.curve_points)}
        )
        model = models[name]
        start = time.perf_counter()
        result = train_q_embedder(
            lambda model=model: QNetwork.from_pretrained(**model),
            learning,
            sampler,
            validation,
            run_dir=None,
            checkpoint_every=learning.total_updates,
            device=device,
            pool_embeddings=pool if model["frozen_action_encoder"] else None,
        )
        train_seconds = time.perf_counter() - start
        saved = (
            RESULTS
            / "checkpoints"
            / f"{args.task}_{name}_{learning.total_updates}u_{time.strftime('%Y%m%dT%H%M%S')}"
        )
        save_checkpoint(result.checkpoint, saved)
        network = result.network.eval()
        scores = {}
        for length, episodes in test.items():
            embeddings = q_chunk_embeddings(network, episodes, test_embeddings[length])
            traces = retrieve_batch(network, episodes, embeddings, learning.max_steps, learning.chunk_budget)
            scores[length] = round(fact_em_rate(episodes, [t.retrieved for t in traces]), 4)
        report["runs"][name] = {
            "model": model,
            "checkpoint": str(saved.relative_to(ROOT)),
            "updates": learning.total_updates,
            "train_seconds": round(train_seconds, 1),
            "seconds_per_update": round(train_seconds / learning.total_updates, 3),
            "fact_em": scores,
            "curve": _curve_with_minutes(result.curves),
        }
        print(
            f"{name}: {learning.total_updates} updates in {train_seconds / 60:.1f} min, "
            f"fact EM@{learning.max_steps} {scores}",
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
    return table[["update", "minutes", "eval_fact_em", "train_fact_em", "loss"]].to_dict(orient="records")


def _plot(report: dict[str, Any], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 4), dpi=100)
    for name, run in report["runs"].items():
        curve = pd.DataFrame(run["curve"]).dropna(subset=["eval_fact_em"])
        axis.plot(
            curve["minutes"],
            curve["eval_fact_em"],
            marker="o",
            markersize=3,
            label=f"{name} ({run['updates']} updates)",
        )
    axis.set_xlabel("training wall-clock minutes (2 CPU cores)")
    axis.set_ylabel("held-out fact EM@T (validation)")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(f"{report['task']}: validation curve against wall-clock time")
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
    parser.add_argument("--task", default="qa2", choices=["qa1", "qa2", "qa3", "qa4", "qa5"])
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument(
        "--updates",
        nargs="+",
        default=["paper=130", "default=900"],
        help="updates per learner, LEARNER=N, sized to the time budget",
    )
    parser.add_argument("--set", nargs="*", default=[], help="learner settings KEY=VALUE over conf/base's")
    parser.add_argument(
        "--model", nargs="*", default=[], help="the default learner's model settings KEY=VALUE"
    )
    parser.add_argument(
        "--train-sentences",
        type=int,
        nargs="+",
        default=[50],
        help="sentences per training document: one size, or SHORTEST LONGEST",
    )
    parser.add_argument(
        "--train-source",
        default="files",
        choices=["files", "generator"],
        help="training stories: the official train files, or the built-in generator",
    )
    parser.add_argument("--generated-stories", type=int, default=2000, help="stories the generator writes")
    parser.add_argument("--lengths", nargs="+", default=["1k", "32k"])
    parser.add_argument("--episodes", type=int, default=200, help="test episodes per length")
    parser.add_argument("--validation-episodes", type=int, default=100)
    parser.add_argument("--curve-points", type=int, default=20, help="validation points per learner's curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.updates = counts_for(parser, args.updates, args.learners, "--updates")
    return args


if __name__ == "__main__":
    main()
