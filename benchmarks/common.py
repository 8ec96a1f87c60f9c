"""What the evaluation benchmarks share: a checkpoint (loaded or trained), every method
retrieving from the same episodes, the metrics table, and the record of the run
(machine, command, data) written next to the figures."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from qrag_pipeline.checkpoints import load_checkpoint, save_checkpoint
from qrag_pipeline.episodes import Episode
from qrag_pipeline.evaluation import baseline_traces, q_rag_traces, score_traces
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import embed_episodes
from qrag_pipeline.rl.environment import EpisodeSampler
from qrag_pipeline.rl.learner import QLearningConfig
from qrag_pipeline.training import train_q_embedder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def add_common_arguments(parser: argparse.ArgumentParser, updates: int) -> None:
    """The options every evaluation benchmark takes."""
    parser.add_argument("--checkpoint", type=Path, default=None, help="a train_q checkpoint folder; else train one")
    parser.add_argument("--updates", type=int, default=updates, help="updates when training here")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--stop-threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)


def add_length_arguments(parser: argparse.ArgumentParser, episodes: Mapping[str, int]) -> None:
    """--lengths and --episodes LENGTH=N, defaulting to `episodes` (questions per task)."""
    parser.add_argument("--lengths", nargs="+", default=list(episodes))
    parser.add_argument("--episodes", nargs="+", default=[f"{k}={v}" for k, v in episodes.items()],
                        help="questions per task and length, as LENGTH=N")
    parser.add_argument("--max-steps", type=int, default=4, help="T: chunks retrieved per question")


def parse_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with --episodes as a mapping that covers every --lengths entry."""
    args = parser.parse_args()
    args.episodes = {key: int(value) for key, value in (item.split("=", 1) for item in args.episodes)}
    missing = [length for length in args.lengths if length not in args.episodes]
    if missing:
        parser.error(f"no --episodes count for lengths {missing}")
    return args


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def machine() -> str:
    return (f"{platform.node()} {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, device {device()}")


def checkpoint_network(
    args: argparse.Namespace, name: str, sampler: EpisodeSampler | None,
    validation: Sequence[Episode], max_steps: int,
) -> tuple[QNetwork, str, float | None]:
    """--checkpoint's network, or one trained here on `sampler` and saved under
    benchmarks/results/checkpoints/ (git-ignored): the network, a note saying which,
    and the training seconds."""
    if args.checkpoint is not None:
        return load_checkpoint(args.checkpoint).build_network(device()), str(args.checkpoint), None
    learning = QLearningConfig(
        learning_rate=args.lr, warmup_updates=10, total_updates=args.updates, learning_start=0,
        max_steps=max_steps, eval_every=max(args.updates // 4, 1), seed=args.seed,
    )
    start = time.perf_counter()
    result = train_q_embedder(
        lambda: QNetwork.from_pretrained(max_length=args.max_length), learning, sampler,
        validation, run_dir=None, checkpoint_every=args.updates, device=device(),
    )
    seconds = round(time.perf_counter() - start, 1)
    saved = RESULTS / "checkpoints" / f"{name}_{args.updates}u_{time.strftime('%Y%m%dT%H%M%S')}"
    save_checkpoint(result.checkpoint, saved)
    note = (f"trained here: {args.updates} updates, lr {args.lr}, T={max_steps}, seed {args.seed}; "
            f"saved to {saved.relative_to(ROOT)}")
    return result.network, note, seconds


def evaluate_methods(
    network: QNetwork, episodes: Sequence[Episode], max_steps: int, args: argparse.Namespace,
    steps_by_benchmark: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Q-RAG and the three baselines on `episodes`, each distinct chunk embedded once per
    encoder: the metrics table and the embedding facts (distinct chunks, seconds)."""
    network.eval()
    encoder = TextEncoder.from_pretrained(max_length=args.max_length).to(device())
    with torch.inference_mode():
        q_embeddings = embed_episodes(network.action_encoder, episodes)
        dense_embeddings = embed_episodes(encoder, episodes)
        traces = pd.concat(
            [
                q_rag_traces(network, episodes, q_embeddings, max_steps, progress=True),
                baseline_traces(encoder, episodes, dense_embeddings, max_steps, progress=True),
            ],
            ignore_index=True,
        )
    metrics = score_traces(episodes, traces, max_steps, args.stop_threshold, None, steps_by_benchmark)
    facts = {
        "distinct_chunks_embedded": len(q_embeddings.texts),
        "embed_seconds": {"q_rag": round(q_embeddings.encode_s, 1),
                          "pretrained": round(dense_embeddings.encode_s, 1)},
    }
    return metrics, facts


def write_report(report: dict[str, Any], metrics: pd.DataFrame, out: Path) -> None:
    """The run record as JSON (with the metrics) and the metrics table as CSV."""
    report = {"machine": machine(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
              **report, "metrics": metrics.to_dict(orient="records")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    metrics.to_csv(out.with_suffix(".csv"), index=False)


def print_table(metrics: pd.DataFrame, columns: Sequence[str]) -> None:
    """The chosen columns of the metrics table (those present), one row per group."""
    keep = ["benchmark", "task", "length_bucket", "method", "n_episodes",
            *[c for c in columns if c in metrics.columns]]
    with pd.option_context("display.width", 220, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        print(metrics[keep].to_string(index=False))
