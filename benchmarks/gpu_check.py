"""GPU check: the CUDA path end to end, in a few minutes, with the figures it measures.

Whoever has a GPU runs this first. It needs no data outside the repository (stories of
the built-in generator in generated prose) and prints, then writes to
benchmarks/results/gpu_check.json:

1. training on CUDA through the train_q stage's entry point (`run_training`): conf/tiny's
   model and conf/paper's (both encoders trained, the whole MiniLM), each in float32
   and in bfloat16 (`train_q.learning.precision`): updates per second after the first
   two, peak GPU memory, and that the weights really live on the GPU;
2. data-parallel training on every visible GPU (`training_processes.launch`, nccl, one
   rank per GPU): seconds per update and transitions per second of all ranks, and that
   the ranks end with bit-equal weights;
3. the pretrained encoder's throughput on each backend that runs on a GPU (torch
   float32, torch-bf16), in sentences per second;
4. one 1M-token retrieval (a qa2 story in 40,000 sentences): its chunks encoded, then
   four greedy steps of the pretrained Q-network, each timed.

Without a CUDA GPU it says so and exits with status 2, having done nothing.

    .venv/bin/python benchmarks/gpu_check.py
    .venv/bin/python benchmarks/gpu_check.py --updates 10 --out benchmarks/results/gpu_check_h100.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import RESULTS, conf_parameters, timed_learner
from qrag_pipeline.builders.babilong import babilong_sampler
from qrag_pipeline.models.backends import inference_encoder
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.multistep import retrieve
from qrag_pipeline.rl.config import distributed_config
from qrag_pipeline.rl.ranks import SINGLE_PROCESS
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.training_data import TrainingPools
from qrag_pipeline.training_processes import launch, process_group

ONE_MILLION_SENTENCES = 40_000
"""Sentences of a 1M-token document (data_prep.babilong.length_buckets)."""


def main() -> None:
    args = _arguments()
    if not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False), "
            f"torch {torch.__version__} built for CUDA {torch.version.cuda}. Nothing was run. "
            "Fix: run this on a machine with an NVIDIA GPU and a CUDA build of torch.",
            file=sys.stderr,
        )
        sys.exit(2)
    start = time.perf_counter()
    pools = TrainingPools(generate_babi_samples("qa2", 200, seed=1), generate_prose(4, 500, seed=2))
    report: dict[str, Any] = {
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "torch": torch.__version__,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": "built-in qa2 stories in generated prose (no files read)",
    }
    report["training"] = {
        f"{env} {precision}": _training(env, precision, pools, args.updates)
        for env in ("tiny", "paper")
        for precision in ("float32", "bfloat16")
    }
    report["data_parallel"] = _data_parallel(pools, args.updates)
    report["encoding"] = _encoding(args.sentences)
    report["retrieval_1m"] = _one_million_retrieval()
    report["seconds"] = time.perf_counter() - start
    out = args.out or RESULTS / "gpu_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written to {out}")


def _train_q(env: str, precision: str, updates: int) -> dict[str, Any]:
    """`env`'s train_q on qa2, on the GPU, for `updates` updates."""
    train_q = conf_parameters(env)["train_q"]
    learning = {
        **train_q["learning"],
        "total_updates": updates,
        "warmup_updates": 1,
        "learning_start": 0,
        "precision": precision,
    }
    return {**train_q, "tasks": ["qa2"], "device": "cuda", "validation_questions": 4, "learning": learning}


def _seconds_per_update(history: list[dict[str, float]]) -> float:
    """Mean seconds of the updates after the first two (CUDA's start-up costs)."""
    timed = history[2:] or history
    return sum(1.0 / m["updates_per_s"] for m in timed) / len(timed)


def _training(env: str, precision: str, pools: TrainingPools, updates: int) -> dict[str, Any]:
    """Updates per second and peak GPU memory of `env`'s learner in `precision`."""
    torch.cuda.reset_peak_memory_stats()
    run = timed_learner(_train_q(env, precision, updates), pools, None, SINGLE_PROCESS, torch.device("cuda"))
    learner, history = run.learner, run.history
    torch.cuda.synchronize()
    figures = {
        "updates_per_s": 1.0 / _seconds_per_update(history),
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "weights_on_gpu": all(p.device.type == "cuda" for p in learner.network.parameters()),
        "loss_finite": all(math.isfinite(m["loss"]) for m in history),
    }
    print(f"training {env} {precision}: {figures}", flush=True)
    return figures


def _data_parallel(pools: TrainingPools, updates: int) -> dict[str, Any]:
    """conf/tiny's learner on one rank per visible GPU (nccl)."""
    gpus = torch.cuda.device_count()
    train_q = _train_q("tiny", "bfloat16", updates)
    start = time.perf_counter()
    ranks = launch(distributed_config({"nproc_per_node": gpus}), _rank_run, train_q, pools)
    seconds = ranks[0]["seconds_per_update"]
    learning = train_q["learning"]
    figures = {
        "ranks": gpus,
        "seconds_per_update": seconds,
        "transitions_per_s_all_ranks": gpus * learning["num_envs"] * learning["num_steps"] / seconds,
        "ranks_bit_equal": all(r["weights"] == ranks[0]["weights"] for r in ranks.values()),
        "wall_s_with_start": time.perf_counter() - start,
    }
    print(f"data parallel: {figures}", flush=True)
    return figures


def _rank_run(train_q: dict[str, Any], pools: TrainingPools) -> dict[str, Any]:
    """One rank's timed updates (in a launched worker) and a digest of its weights."""
    with process_group("cuda", "auto") as (ranks, device):
        run = timed_learner(train_q, pools, None, ranks, device)
        learner, history = run.learner, run.history
        weights = hashlib.sha256()
        for tensor in learner.network.state_dict().values():
            weights.update(tensor.detach().float().cpu().numpy().tobytes())
        return {"seconds_per_update": _seconds_per_update(history), "weights": weights.hexdigest()}


def _encoding(count: int) -> dict[str, float]:
    """The pretrained encoder's sentences per second on each GPU backend."""
    texts = [sentence for document in generate_prose(8, count // 8, seed=3).values() for sentence in document]
    encoder = TextEncoder.from_pretrained().to("cuda")
    figures = {}
    for backend in ("torch", "torch-bf16"):
        model = inference_encoder(encoder, backend)
        model.encode(texts[:256])
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            model.encode(texts)
        torch.cuda.synchronize()
        figures[backend] = len(texts) / (time.perf_counter() - start)
    print(f"encoding, sentences/s: {figures}", flush=True)
    return figures


def _one_million_retrieval() -> dict[str, float]:
    """A qa2 story hidden in 40,000 sentences: encode its chunks, then four steps."""
    prose = generate_prose(20, ONE_MILLION_SENTENCES // 20, seed=5)
    sampler = babilong_sampler(generate_babi_samples("qa2", 1, seed=4), prose, ONE_MILLION_SENTENCES)
    episode = sampler(np.random.default_rng(6))
    network = QNetwork.from_pretrained().to("cuda").eval()
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        chunks = network.action_encoder.encode(episode.chunks)
    torch.cuda.synchronize()
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    trace = retrieve(network, episode.question, episode.chunks, chunks, max_steps=4)
    torch.cuda.synchronize()
    figures = {
        "chunks": float(len(episode.chunks)),
        "encode_s": encode_s,
        "seconds_per_step": (time.perf_counter() - start) / 4,
        "facts_found": float(len(set(trace.retrieved) & set(episode.support))),
        "facts": float(len(episode.support)),
    }
    print(f"1M-token retrieval: {figures}", flush=True)
    return figures


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=12, help="updates per training run")
    parser.add_argument("--sentences", type=int, default=40_000, help="sentences to encode per backend")
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


if __name__ == "__main__":
    main()
