"""What the evaluation benchmarks share: a checkpoint (loaded or trained), every method
retrieving from the same episodes, the metrics table, and the record of the run
(machine, command, data) written next to the figures."""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from qrag_pipeline.checkpoints import load_checkpoint, save_checkpoint
from qrag_pipeline.episodes import Episode
from qrag_pipeline.evaluation import baseline_traces, q_chunk_embeddings, q_rag_traces, score_traces
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import (
    EpisodeEmbeddings,
    embed_episodes,
    embed_texts,
    load_embeddings,
    save_embeddings,
)
from qrag_pipeline.rl.config import QLearningConfig, learning_config
from qrag_pipeline.rl.environment import EpisodeSampler
from qrag_pipeline.training import TrainingResult, train_q_embedder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "cache"
"""Embeddings of training pools, reused by every benchmark run on the same pools
(git-ignored), as the pipeline's versioned training_pool_embeddings are."""


def conf_parameters(env: str = "base") -> dict[str, Any]:
    """The project's parameters of environment `env` (conf/base merged with it), as
    `kedro run --env ENV` reads them: benchmarks start from the pipeline's defaults."""
    from kedro.config import OmegaConfigLoader

    from qrag_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(
        conf_source=str(ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        merge_strategy=CONFIG_LOADER_ARGS["merge_strategy"],
    )
    return loader["parameters"]


def official_stories(shared: Path) -> dict[str, Any]:
    """data_prep.stories for the official bAbI files in `shared` (en-10k, and en/ for
    the tasks en-10k lacks)."""
    return {"source": "babi_files", "babi_dirs": [str(shared / "babi" / d) for d in ("en-10k", "en")]}


def key_values(items: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE arguments, each value read as YAML (numbers, booleans, strings)."""
    return {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in items)}


POOL_SEGMENT = 16384
"""Pool texts are embedded and cached in segments of this many, so that pools sharing
their first texts (the same books, other stories) share those segments' work."""


def cached_pool_embeddings(encoder: TextEncoder, texts: Sequence[str]) -> tuple[EpisodeEmbeddings, bool]:
    """The training pool `texts` embedded by `encoder`, each segment read from CACHE
    when an earlier run embedded the same texts with the same encoder: (embeddings,
    whether every segment was read from the cache)."""
    texts = list(dict.fromkeys(texts))
    parts = [
        _cached(
            "pool",
            [encoder.encoder_config(), texts[start : start + POOL_SEGMENT]],
            lambda start=start: embed_texts(encoder, texts[start : start + POOL_SEGMENT]),
        )
        for start in range(0, len(texts), POOL_SEGMENT)
    ]
    embeddings = EpisodeEmbeddings(
        texts=[text for part, _ in parts for text in part.texts],
        vectors=np.concatenate([part.vectors for part, _ in parts]),
        rows={},
        encode_s=sum(part.encode_s for part, _ in parts),
        encoder=encoder.encoder_config(),
    )
    return embeddings, all(cached for _, cached in parts)


def cached_episode_embeddings(encoder: TextEncoder, episodes: Sequence[Episode]) -> EpisodeEmbeddings:
    """`embed_episodes(encoder, episodes)`, read from CACHE when an earlier run embedded
    the same episodes with the same encoder (its `encode_s` is that run's)."""
    digest = hashlib.sha256(json.dumps(encoder.encoder_config()).encode())
    for episode in episodes:
        digest.update(json.dumps([episode.id, episode.chunks]).encode())
    return _cached("episodes", digest.hexdigest(), lambda: embed_episodes(encoder, episodes))[0]


def _cached(kind: str, key: Any, make: Callable[[], EpisodeEmbeddings]) -> tuple[EpisodeEmbeddings, bool]:
    folder = CACHE / f"{kind}-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}"
    if folder.is_dir():
        return load_embeddings(folder), True
    embeddings = make()
    save_embeddings(embeddings, folder)
    return embeddings, False


def add_common_arguments(parser: argparse.ArgumentParser, updates: int) -> None:
    """The options every evaluation benchmark takes."""
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a train_q checkpoint folder; else train one"
    )
    parser.add_argument("--updates", type=int, default=updates, help="updates when training here")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument(
        "--stop-threshold",
        type=float,
        default=None,
        help="the learned stop's threshold (default: the checkpoint's own)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)


def add_length_arguments(parser: argparse.ArgumentParser, episodes: Mapping[str, int]) -> None:
    """--lengths and --episodes LENGTH=N, defaulting to `episodes` (questions per task)."""
    parser.add_argument("--lengths", nargs="+", default=list(episodes))
    parser.add_argument(
        "--episodes",
        nargs="+",
        default=[f"{k}={v}" for k, v in episodes.items()],
        help="questions per task and length, as LENGTH=N",
    )
    parser.add_argument("--max-steps", type=int, default=4, help="T: chunks retrieved per question")


def parse_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with --episodes as a mapping that covers every --lengths entry."""
    args = parser.parse_args()
    args.episodes = counts_for(parser, args.episodes, args.lengths, "--episodes")
    return args


def counts_for(
    parser: argparse.ArgumentParser, items: Sequence[str], names: Sequence[str], option: str
) -> dict[str, int]:
    """`option`'s NAME=N arguments as a mapping; a usage error if a name lacks one."""
    counts = {key: int(value) for key, value in key_values(items).items()}
    missing = [name for name in names if name not in counts]
    if missing:
        parser.error(f"no {option} count for {missing}")
    return counts


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def machine() -> str:
    return (
        f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {device()}"
    )


@dataclass
class Model:
    """A checkpoint's network, where it came from, its training seconds (None when
    loaded) and the learned stop's thresholds it chose on validation episodes."""

    network: QNetwork
    note: str
    train_seconds: float | None
    stop_thresholds: dict[str, float]


def loaded_model(path: Path) -> Model:
    """The network of the checkpoint saved in `path` and the stop thresholds it learned."""
    checkpoint = load_checkpoint(path)
    return Model(checkpoint.build_network(device()), str(path), None, checkpoint.stop_thresholds)


def trained_and_saved(
    network: QNetwork,
    learning: QLearningConfig,
    sampler: EpisodeSampler | None,
    validation: Sequence[Episode],
    pool: EpisodeEmbeddings | None,
    name: str,
) -> tuple[TrainingResult, float, Path]:
    """`network` trained for `learning.total_updates` updates (no run folder: nothing
    resumed), the wall seconds that took, and where its checkpoint is saved:
    benchmarks/results/checkpoints/<name>_<updates>u_<time> (git-ignored)."""
    start = time.perf_counter()
    result = train_q_embedder(
        lambda: network,
        learning,
        sampler,
        validation,
        run_dir=None,
        checkpoint_every=learning.total_updates,
        device=device(),
        pool_embeddings=pool,
    )
    seconds = round(time.perf_counter() - start, 1)
    saved = RESULTS / "checkpoints" / f"{name}_{learning.total_updates}u_{time.strftime('%Y%m%dT%H%M%S')}"
    save_checkpoint(result.checkpoint, saved)
    return result, seconds, saved


def checkpoint_network(
    args: argparse.Namespace,
    name: str,
    sampler: EpisodeSampler | None,
    validation: Sequence[Episode],
    max_steps: int,
    pool_texts: Sequence[str] = (),
) -> Model:
    """--checkpoint's network, or one trained here on `sampler` with conf/base's model
    and learner (--updates, --lr and `max_steps` over them), looking chunks up in the
    embedded `pool_texts`, and saved under benchmarks/results/checkpoints/ (git-ignored)."""
    if args.checkpoint is not None:
        return loaded_model(args.checkpoint)
    train_q = conf_parameters()["train_q"]
    model = {**train_q["model"], "max_length": args.max_length}
    learning = learning_config(
        {
            **train_q["learning"],
            "learning_rate": args.lr,
            "total_updates": args.updates,
            "max_steps": max_steps,
            "eval_every": max(args.updates // 4, 1),
            "seed": args.seed,
        }
    )
    network = QNetwork.from_pretrained(**model)
    pool = None
    if network.frozen_action_encoder:
        pool, _ = cached_pool_embeddings(network.action_encoder.to(device()), pool_texts)
    result, seconds, saved = trained_and_saved(network, learning, sampler, validation, pool, name)
    note = (
        f"trained here: {args.updates} updates, lr {args.lr}, T={max_steps}, seed {args.seed}; "
        f"saved to {saved.relative_to(ROOT)}"
    )
    return Model(result.network, note, seconds, result.checkpoint.stop_thresholds)


def evaluate_methods(
    model: Model,
    episodes: Sequence[Episode],
    max_steps: int,
    args: argparse.Namespace,
    steps_by_benchmark: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Q-RAG and the three baselines on `episodes`, each distinct chunk embedded once by
    the pretrained encoder (and, for the paper's trained action encoder, once by it):
    the metrics table and the embedding facts (distinct chunks, seconds). The learned
    stop uses --stop-threshold, or the model's own thresholds when it is not given."""
    network = model.network.eval()
    encoder = TextEncoder.from_pretrained(max_length=args.max_length).to(device())
    with torch.inference_mode():
        dense_embeddings = embed_episodes(encoder, episodes)
        q_embeddings = q_chunk_embeddings(network, episodes, dense_embeddings, progress=True)
        traces = pd.concat(
            [
                q_rag_traces(network, episodes, q_embeddings, max_steps, progress=True),
                baseline_traces(encoder, episodes, dense_embeddings, max_steps, progress=True),
            ],
            ignore_index=True,
        )
    threshold = model.stop_thresholds if args.stop_threshold is None else args.stop_threshold
    metrics = score_traces(episodes, traces, max_steps, threshold, None, steps_by_benchmark)
    facts = {
        "distinct_chunks_embedded": len(dense_embeddings.texts),
        "embed_seconds": {
            "q_rag": round(q_embeddings.encode_s, 1),
            "pretrained": round(dense_embeddings.encode_s, 1),
        },
        "q_rag_shares_the_pretrained_embeddings": q_embeddings is dense_embeddings,
        "stop_threshold": threshold,
    }
    return metrics, facts


def write_report(report: dict[str, Any], metrics: pd.DataFrame, out: Path) -> None:
    """The run record as JSON (with the metrics) and the metrics table as CSV."""
    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        **report,
        "metrics": metrics.to_dict(orient="records"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    metrics.to_csv(out.with_suffix(".csv"), index=False)


def print_table(metrics: pd.DataFrame, columns: Sequence[str]) -> None:
    """The chosen columns of the metrics table (those present), one row per group."""
    keep = [
        "benchmark",
        "task",
        "length_bucket",
        "method",
        "n_episodes",
        *[c for c in columns if c in metrics.columns],
    ]
    with pd.option_context(
        "display.width", 220, "display.max_columns", 30, "display.float_format", "{:.3f}".format
    ):
        print(metrics[keep].to_string(index=False))
