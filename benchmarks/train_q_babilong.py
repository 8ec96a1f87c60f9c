"""Benchmark: train the Q-embedder on one bAbI task and score it on held-out BabiLong.

Trains from the pretrained encoder on the official bAbI *train* stories hidden in
*training* books, then measures fact EM@T (all supporting facts among the T = max_steps
retrieved chunks) on episodes built from the official *test* stories and unseen *test*
books, for the untrained encoders used as the Q-function and for the trained model.
Prints a table and writes JSON + the training curve next to it.

    .venv/bin/python benchmarks/train_q_babilong.py --task qa2 --updates 150

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from common import ROOT, machine
from common import device as compute_device

from qrag_pipeline.builders.babilong import DEFAULT_LENGTH_BUCKETS, build_babilong_episodes
from qrag_pipeline.episodes import Episode
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.rl.inference import fact_em_rate, greedy_rollout
from qrag_pipeline.rl.learner import QLearningConfig
from qrag_pipeline.sources.books import load_books
from qrag_pipeline.sources.story_sources import load_story_samples
from qrag_pipeline.training import train_q_embedder
from qrag_pipeline.training_data import babilong_training_data



def main() -> None:
    args = _arguments()
    torch.manual_seed(args.seed)
    device = compute_device()
    stories = {"source": "babi_files", "babi_dirs": [str(args.shared / "babi" / "en-10k"), str(args.shared / "babi" / "en")]}
    train_samples = load_story_samples(stories, args.task, "train", args.seed)
    test_samples = load_story_samples(stories, args.task, "test", args.seed)
    train_books = load_books(args.shared / "books" / "train")
    test_books = load_books(args.shared / "books" / "test")

    sampler, validation = babilong_training_data(
        train_samples, train_books, [args.task], args.train_sentences, args.validation_episodes, args.seed
    )
    held_out = {
        length: build_babilong_episodes({args.task: test_samples}, test_books, [length], args.episodes, args.seed)
        for length in args.lengths
    }
    network_config = {"num_layers": args.num_layers, "max_length": args.max_length}
    learning = QLearningConfig(
        learning_rate=args.lr, warmup_updates=args.warmup, total_updates=args.updates,
        learning_start=args.learning_start, max_steps=args.max_steps, num_envs=args.num_envs,
        num_steps=args.num_steps, trainable=args.trainable, trainable_layers=args.trainable_layers,
        eval_every=args.eval_every, eval_episodes=args.validation_episodes, seed=args.seed,
    )

    untrained = _score(QNetwork.from_pretrained(**network_config).to(device), held_out, args.max_steps)
    start = time.perf_counter()
    result = train_q_embedder(
        lambda: QNetwork.from_pretrained(**network_config), learning, sampler,
        validation, run_dir=None, checkpoint_every=args.updates, device=device,
    )
    train_seconds = time.perf_counter() - start
    trained = _score(result.network, held_out, args.max_steps)

    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": "official bAbI en-10k train/test stories (qa3 train from en/); training "
        "books ../shared/data/books/train, held-out episodes from books/test",
        "task": args.task,
        "train_sentences": args.train_sentences,
        "network": network_config,
        "learning": asdict(learning),
        "train_seconds": round(train_seconds, 1),
        "updates_per_s": round(args.updates / train_seconds, 4),
        "fact_em_untrained": untrained,
        "fact_em_trained": trained,
        "curves": result.curves.to_dict(orient="records"),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"train_q_{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    _print(report, out)


def _score(network: QNetwork, held_out: dict[str, list[Episode]], max_steps: int) -> dict[str, dict[str, float]]:
    network.eval()
    scores = {}
    for length, episodes in held_out.items():
        start = time.perf_counter()
        retrieved = greedy_rollout(network, episodes, max_steps)
        scores[length] = {
            "fact_em": round(fact_em_rate(episodes, retrieved), 4),
            "episodes": len(episodes),
            "seconds": round(time.perf_counter() - start, 1),
        }
    return scores


def _print(report: dict, out: Path) -> None:
    print(f"\n{report['task']}: fact EM@{report['learning']['max_steps']} on held-out BabiLong episodes")
    print(f"{'length':>7} {'episodes':>9} {'untrained':>10} {'trained':>8}")
    for length, trained in report["fact_em_trained"].items():
        before = report["fact_em_untrained"][length]["fact_em"]
        print(f"{length:>7} {trained['episodes']:>9} {before:>10.3f} {trained['fact_em']:>8.3f}")
    print(f"training: {report['learning']['total_updates']} updates in {report['train_seconds']} s "
          f"({report['updates_per_s']} updates/s); {report['machine']}")
    print(f"written to {out}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="qa2", choices=["qa1", "qa2", "qa3", "qa4", "qa5"])
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--learning-start", type=int, default=0)
    parser.add_argument("--num-layers", type=int, default=None, help="keep the first L transformer layers")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-steps", type=int, default=4, help="T: chunks retrieved per episode")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=8)
    parser.add_argument("--trainable", default="all", choices=["all", "top_layers"])
    parser.add_argument("--trainable-layers", type=int, default=2)
    parser.add_argument("--train-sentences", type=int, default=DEFAULT_LENGTH_BUCKETS["1k"])
    parser.add_argument("--lengths", nargs="+", default=["1k", "32k"])
    parser.add_argument("--episodes", type=int, default=200, help="held-out episodes per length")
    parser.add_argument("--validation-episodes", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


if __name__ == "__main__":
    main()
