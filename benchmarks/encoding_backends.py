"""Benchmark: encoding throughput of the backends and executors, and a 10M-token encode.

Parts (all by default, or --parts ...):

- `backends`: sentences per second of torch, torch-bf16, onnx and onnx-int8 on the same 20,000
  book sentences, side by side (each ONNX export made, and timed, once before), the
  cosine between each backend's embeddings and torch's;
- `accuracy`: BabiLong qa2 fact EM@4 on 100 episodes at 32k (official test stories in
  the test books) with a frozen-action-encoder checkpoint (--checkpoint), its chunks
  embedded by torch, by torch-bf16 and by onnx-int8;
- `executors`: the same sentences through the sharded encoder in this process, and on
  a Dask LocalCluster of 1 and of 2 worker processes: throughput and the cluster's
  overhead;
- `ten_million`: one 10M-token document, 400,000 distinct sentences (all 177,000
  sentences of the training and test books, then the built-in prose generator's),
  encoded end to end with --backend through the sharded, resumable encoder: wall time
  and peak memory. With --kill-after N the encode runs in a child process killed
  after N shards, then again to the end, printing where it resumed.

    .venv/bin/python benchmarks/encoding_backends.py --checkpoint DIR
    .venv/bin/python benchmarks/encoding_backends.py --parts ten_million --backend torch-bf16 --kill-after 40
    .venv/bin/python benchmarks/encoding_backends.py --parts executors --params embed.executor.shard_size=2048

The encoder, the ONNX cache, the shard size and T come from conf/base (`embed`,
`evaluate`), with `--params KEY=VALUE` over them as in `kedro run --params`.

Needs the real data in ../shared/data (or --shared PATH).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import RESULTS, ROOT, add_params_argument, machine, q_rag_fact_em, set_parameters
from qrag_pipeline.builders.babilong import build_babilong_episodes
from qrag_pipeline.checkpoints import load_checkpoint
from qrag_pipeline.evaluation import evaluate_methods
from qrag_pipeline.models.backend_names import BACKENDS, SETTINGS
from qrag_pipeline.models.backends import inference_encoder, resolve_backend
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.retrieval.embeddings import embed_episodes
from qrag_pipeline.retrieval.sharded_encoding import EncoderSpec, ExecutorSettings, ShardedEncoder
from qrag_pipeline.sources.books import load_books
from qrag_pipeline.sources.prose_generator import generate_prose
from qrag_pipeline.sources.story_sources import load_story_samples

PARTS = ("backends", "accuracy", "executors", "ten_million")
TEN_MILLION = 400_000


def main() -> None:
    args = _arguments()
    if args.child_ten_million:
        _encode_ten_million(args)
        return
    encoder_args = args.parameters["embed"]["encoder"]
    sentences = _book_sentences(args)[: args.sentences]
    report: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if "backends" in args.parts:
        report["backends"] = _backends(encoder_args, sentences, _onnx_cache(args))
    if "accuracy" in args.parts:
        report["accuracy"] = _accuracy(args, encoder_args)
    if "executors" in args.parts:
        report["executors"] = _executors(args, encoder_args, sentences)
    if "ten_million" in args.parts:
        report["ten_million"] = _ten_million(args)
    out = args.out or RESULTS / "encoding_backends.json"
    previous = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps({**previous, **report}, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written to {out}")


def _book_sentences(args: argparse.Namespace) -> list[str]:
    books = load_books(args.shared / "books" / "test")
    return list(dict.fromkeys(s for name in sorted(books) for s in books[name]))


def _onnx_cache(args: argparse.Namespace) -> Path:
    """Where the ONNX exports are kept (embed.onnx_cache, relative to the project)."""
    return ROOT / args.parameters["embed"]["onnx_cache"]


def _shard_size(args: argparse.Namespace) -> int:
    return int(args.parameters["embed"]["executor"]["shard_size"])


def _backends(encoder_args: dict[str, Any], sentences: list[str], onnx_cache: Path) -> dict[str, Any]:
    """Throughput and agreement of each backend on `sentences` (this process, 2 cores)."""
    torch_encoder = TextEncoder.from_pretrained(**encoder_args)
    results: dict[str, Any] = {"sentences": len(sentences)}
    reference = None
    for backend in BACKENDS:
        start = time.perf_counter()
        encoder = inference_encoder(torch_encoder, backend, onnx_cache)
        ready_s = time.perf_counter() - start
        encoder.encode(sentences[:256])  # warm-up
        start = time.perf_counter()
        vectors = encoder.encode(sentences, progress=True)
        seconds = time.perf_counter() - start
        reference = vectors if reference is None else reference
        cosine = torch.nn.functional.cosine_similarity(vectors, reference)
        results[backend] = {
            "setup_s": round(ready_s, 1),
            "seconds": round(seconds, 1),
            "sentences_per_s": round(len(sentences) / seconds, 1),
            "cosine_to_torch_mean": round(float(cosine.mean()), 5),
            "cosine_to_torch_min": round(float(cosine.min()), 5),
        }
        print(backend, results[backend], flush=True)
    for backend in BACKENDS[1:]:
        results[backend]["speedup_over_torch"] = round(
            results[backend]["sentences_per_s"] / results["torch"]["sentences_per_s"], 2
        )
    return results


def _accuracy(args: argparse.Namespace, encoder_args: dict[str, Any]) -> dict[str, Any]:
    """qa2 fact EM@T at 32k with the checkpoint's chunks embedded by torch, bf16 and int8,
    scored by the evaluate stage's entry point (T = evaluate.max_steps)."""
    if args.checkpoint is None:
        raise SystemExit("the accuracy part needs --checkpoint (a frozen-action-encoder train_q checkpoint)")
    checkpoint = load_checkpoint(args.checkpoint)
    network = checkpoint.build_network().eval()
    stories = {"source": "babi_files", "babi_dirs": [str(args.shared / "babi" / "en-10k")]}
    samples = load_story_samples(stories, "qa2", "test", 0)
    episodes = build_babilong_episodes(
        {"qa2": samples}, load_books(args.shared / "books" / "test"), ["32k"], 100, 0
    )
    torch_encoder = TextEncoder.from_pretrained(**encoder_args)
    results: dict[str, Any] = {"checkpoint": str(args.checkpoint), "episodes": len(episodes)}
    evaluate = args.parameters["evaluate"]
    for backend in ("torch", "torch-bf16", "onnx-int8"):
        embeddings = embed_episodes(inference_encoder(torch_encoder, backend, _onnx_cache(args)), episodes)
        with torch.inference_mode():
            metrics = evaluate_methods(
                network, checkpoint.stop_thresholds, episodes, embeddings, evaluate, baseline_episodes=[]
            ).metrics
        results[backend] = {
            f"fact_em@{evaluate['max_steps']}": q_rag_fact_em(metrics, evaluate["max_steps"]),
            "encode_s": round(embeddings.encode_s, 1),
            "distinct_texts": len(embeddings.texts),
        }
        print(backend, results[backend], flush=True)
    return results


def _executors(
    args: argparse.Namespace, encoder_args: dict[str, Any], sentences: list[str]
) -> dict[str, Any]:
    """The sharded encoder locally and on LocalClusters of 1 and 2 worker processes."""
    texts = sentences[: args.executor_sentences]
    results: dict[str, Any] = {
        "sentences": len(texts),
        "backend": args.backend,
        "shard_size": _shard_size(args),
    }
    runs = {
        "local (this process, 2 threads)": ExecutorSettings(kind="local", shard_size=_shard_size(args)),
        "dask, 1 worker x 2 threads": ExecutorSettings(
            kind="dask", shard_size=_shard_size(args), n_workers=1, threads_per_worker=2
        ),
        "dask, 2 workers x 1 thread": ExecutorSettings(
            kind="dask", shard_size=_shard_size(args), n_workers=2, threads_per_worker=1
        ),
    }
    spec = EncoderSpec.of(encoder_args, args.backend, str(_onnx_cache(args)))
    for name, settings in runs.items():
        start = time.perf_counter()
        ShardedEncoder(spec, settings, args.work_dir / "executors").encode(texts, progress=True)
        seconds = time.perf_counter() - start
        results[name] = {"seconds": round(seconds, 1), "sentences_per_s": round(len(texts) / seconds, 1)}
        print(name, results[name], flush=True)
    local = results["local (this process, 2 threads)"]["seconds"]
    for name in list(runs)[1:]:
        results[name]["throughput_vs_local"] = round(local / results[name]["seconds"], 3)
    return results


def _ten_million(args: argparse.Namespace) -> dict[str, Any]:
    """The 10M-token encode in a child process (killed after --kill-after shards if
    given, then run again to the end): wall times, peak memory, where it resumed."""
    command = [
        sys.executable,
        __file__,
        "--child-ten-million",
        "--backend",
        args.backend,
        *(["--params", *args.params] if args.params else []),
        "--shared",
        str(args.shared),
        "--work-dir",
        str(args.work_dir),
    ]
    results: dict[str, Any] = {
        "backend": args.backend,
        "sentences": TEN_MILLION,
        "shard_size": _shard_size(args),
    }
    if args.kill_after:
        results["killed_run"] = _run_until_shards(command, args.work_dir / "ten_million", args.kill_after)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    results["final_run_wall_s"] = round(time.perf_counter() - start, 1)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    results |= json.loads(done.stdout.strip().splitlines()[-1])
    print(results, flush=True)
    return results


def _run_until_shards(command: list[str], work: Path, shards: int) -> dict[str, Any]:
    """Start the encode, SIGKILL it once `shards` shard files exist; what it had done."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while child.poll() is None and len(list(work.glob("*/shard-*.npy"))) < shards:
        time.sleep(0.2)
    child.kill()
    child.wait()
    return {
        "killed_after_s": round(time.perf_counter() - start, 1),
        "shards_written": len(list(work.glob("*/shard-*.npy"))),
    }


def _encode_ten_million(args: argparse.Namespace) -> None:
    """The child: build the 400,000 sentences, encode them, print one JSON line."""
    books = {**load_books(args.shared / "books" / "train"), **load_books(args.shared / "books" / "test")}
    texts = list(dict.fromkeys(s for name in sorted(books) for s in books[name]))
    prose = generate_prose(40, 20_000, seed=10, split="train")
    texts = list(dict.fromkeys([*texts, *(s for name in sorted(prose) for s in prose[name])]))[:TEN_MILLION]
    if len(texts) < TEN_MILLION:
        raise SystemExit(f"only {len(texts)} distinct sentences")
    spec = EncoderSpec.of(args.parameters["embed"]["encoder"], args.backend, str(_onnx_cache(args)))
    encoder = ShardedEncoder(
        spec, ExecutorSettings(shard_size=_shard_size(args)), args.work_dir / "ten_million"
    )
    found = len(list((args.work_dir / "ten_million").glob("*/shard-*.npy")))
    start = time.perf_counter()
    vectors = encoder.encode(texts, progress=True)
    seconds = time.perf_counter() - start
    encoded = len(texts) - min(len(texts), found * _shard_size(args))
    print(
        json.dumps(
            {
                "shards_found_at_start": found,
                "encode_s": round(seconds, 1),
                "sentences_encoded": encoded,
                "sentences_per_s": round(encoded / seconds, 1),
                "vectors": list(vectors.shape),
                "all_finite": bool(np.isfinite(vectors.numpy()).all()),
                "peak_memory_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            }
        )
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--executor-sentences", type=int, default=8192)
    parser.add_argument("--backend", default="auto", choices=SETTINGS, help="executors and ten_million")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument(
        "--kill-after", type=int, default=0, help="ten_million: kill after N shards, then resume"
    )
    parser.add_argument("--work-dir", type=Path, default=RESULTS / "cache" / "encoding_work")
    parser.add_argument("--child-ten-million", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    add_params_argument(parser)
    args = set_parameters(parser, parser.parse_args(), "base")
    args.backend = resolve_backend(args.backend, torch.device("cpu"))  # recorded as run
    return args


if __name__ == "__main__":
    main()
