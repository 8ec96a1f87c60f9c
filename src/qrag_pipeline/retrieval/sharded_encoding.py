"""Encoding many texts as shards: resumable after a kill, spread over a Dask cluster.

The embed stage's cost grows with the corpus (400,000 sentences for a 10M-token
document). Its texts are cut into shards of `shard_size`; each shard is a pure
function of its texts and the encoder (`encode_shard`), so shards can be encoded in
any order, in this process or on a cluster's workers, and give the same vectors as one
pass here. Finished shards are written to a work folder named by a fingerprint of the
texts, the encoder and the shard size, each file whole or not at all: the same command
after a kill loads the shards already written and encodes only the rest. The folder is
locked while a run works in it, and removed once every shard is in. With a cache
folder (`embed.cache_dir`) the finished shards are kept there instead, each named by a
fingerprint of its own texts and the encoder, so any later encoding that holds the
same shard (the same pools again, or pools that share their first texts) reads it
instead of encoding it: the pipeline's reruns and the benchmarks share one store.

Executors: "local" encodes the shards one after another in this process; "dask" hands
them to a dask.distributed cluster (`embed.executor.address`, or the
DASK_SCHEDULER_ADDRESS variable, or else a LocalCluster started here), where each
worker process loads the encoder once and keeps it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.locks import exclusive
from qrag_pipeline.models.backends import InferenceEncoder, inference_encoder, resolve_backend
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.staging import staged

LOGGER = logging.getLogger(__name__)
EXECUTORS = ("local", "dask")
SHARD_PATTERN = "shard-{:06d}.npy"


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that builds the inference encoder, in any process: the keyword
    arguments of `TextEncoder.from_pretrained`, the backend, the ONNX cache folder, the
    device and the torch threads to use. Picklable, so a cluster's workers can build it."""

    encoder: tuple[tuple[str, Any], ...]
    backend: str = "torch"
    onnx_cache: str | None = None
    device: str = "cpu"
    threads: int | None = None

    @classmethod
    def of(
        cls,
        encoder: Mapping[str, Any],
        backend: str = "torch",
        onnx_cache: str | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> EncoderSpec:
        """The spec with "auto" resolved here, so every worker (and a resumed run)
        uses the backend this run chose."""
        resolved = resolve_backend(backend, torch.device(device))
        return cls(tuple(sorted(encoder.items())), resolved, onnx_cache, device, threads)

    def build(self) -> InferenceEncoder:
        if self.threads:
            torch.set_num_threads(self.threads)
        encoder = TextEncoder.from_pretrained(**dict(self.encoder)).to(self.device)
        return inference_encoder(encoder, self.backend, self.onnx_cache)


_LOADED: dict[EncoderSpec, InferenceEncoder] = {}
"""The encoders this process has built (one per spec): a worker loads each once."""


def loaded_encoder(spec: EncoderSpec) -> InferenceEncoder:
    if spec not in _LOADED:
        _LOADED[spec] = spec.build()
    return _LOADED[spec]


def encode_shard(spec: EncoderSpec, texts: Sequence[str]) -> np.ndarray:
    """One shard's embeddings [n, D] (float32): the unit of work of every executor."""
    with torch.no_grad():
        return loaded_encoder(spec).encode(list(texts)).cpu().numpy()


@dataclass
class ExecutorSettings:
    """`embed.executor`: where shards are encoded and how big they are."""

    kind: str = "local"
    shard_size: int = 4096
    address: str | None = None
    """A running Dask scheduler (e.g. tcp://10.0.0.5:8786); else DASK_SCHEDULER_ADDRESS;
    else a LocalCluster with the settings below."""
    n_workers: int = 2
    threads_per_worker: int = 1
    processes: bool = True
    resources: dict[str, float] = field(default_factory=dict)
    """Worker resources each shard needs, e.g. {GPU: 1} (workers started with
    `dask worker ... --resources "GPU=1"`)."""

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise QragInputError(
                f"unknown embed.executor.kind {self.kind!r}. Fix: use one of {', '.join(EXECUTORS)}."
            )
        if not (isinstance(self.shard_size, int) and self.shard_size >= 1):
            raise QragInputError(
                f"embed.executor.shard_size={self.shard_size!r} must be a whole number of "
                "at least 1. Fix: e.g. 4096."
            )


class ShardedEncoder:
    """An encoder that encodes through shards (see the module): `encode` as
    `TextEncoder.encode`, plus resumability and an executor."""

    def __init__(
        self,
        spec: EncoderSpec,
        settings: ExecutorSettings,
        work_root: str | Path,
        cache: str | Path | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.work_root = Path(work_root)
        self.cache = None if cache is None else Path(cache)
        self._encoder = loaded_encoder(spec)

    @property
    def dim(self) -> int:
        return self._encoder.dim

    def encoder_config(self) -> dict[str, Any]:
        return self._encoder.encoder_config()

    def encode(self, texts: Sequence[str], progress: bool = False) -> Tensor:
        """Embeddings [N, D] of `texts` (float32, CPU), in input order."""
        texts = list(texts)
        size = self.settings.shard_size
        shards = [texts[start : start + size] for start in range(0, len(texts), size)]
        work = self.work_root / self._fingerprint(texts)
        paths = [self._shard_path(work, index, shard) for index, shard in enumerate(shards)]
        with exclusive(work, "an encoding of these texts"):
            done = {i for i, path in enumerate(paths) if path.is_file()}
            if done:
                LOGGER.info(
                    "%d of %d shards already encoded in %s", len(done), len(shards), self.cache or work
                )
            todo = [i for i in range(len(shards)) if i not in done]
            bar = tqdm(
                total=len(shards), initial=len(done), desc="encode shards", unit="shard", disable=not progress
            )
            for index, vectors in self._run(todo, shards):
                paths[index].parent.mkdir(parents=True, exist_ok=True)
                with staged(paths[index]) as staging, staging.open("wb") as file:
                    np.save(file, vectors, allow_pickle=False)
                bar.update(1)
            bar.close()
            parts = [np.load(path, allow_pickle=False) for path in paths]
        shutil.rmtree(work, ignore_errors=True)
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
        return torch.from_numpy(vectors)

    def _run(self, todo: list[int], shards: list[list[str]]) -> Iterator[tuple[int, np.ndarray]]:
        if self.settings.kind == "local":
            for index in todo:
                yield index, encode_shard(self.spec, shards[index])
            return
        worker_spec = replace(self.spec, threads=self.spec.threads or self.settings.threads_per_worker)
        yield from _dask_map(worker_spec, self.settings, todo, shards)

    def _shard_path(self, work: Path, index: int, shard: Sequence[str]) -> Path:
        """Where shard `index` is written: the run's work folder, or the cache under a
        fingerprint of the shard's own texts."""
        if self.cache is None:
            return work / SHARD_PATTERN.format(index)
        return self.cache / f"shard-{self._fingerprint(shard)}.npy"

    def _fingerprint(self, texts: Sequence[str]) -> str:
        digest = hashlib.sha256(json.dumps([asdict(self.spec), self.settings.shard_size]).encode())
        for text in texts:
            digest.update(text.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


def _dask_map(
    spec: EncoderSpec, settings: ExecutorSettings, todo: list[int], shards: list[list[str]]
) -> Iterator[tuple[int, np.ndarray]]:
    """The shards `todo`, encoded on a Dask cluster, yielded as they finish."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as error:
        raise QragInputError(
            'embed.executor.kind: dask needs dask.distributed. Fix: pip install -e ".[dask]" '
            "(make setup installs it), or use kind: local."
        ) from error
    address = settings.address or os.environ.get("DASK_SCHEDULER_ADDRESS")
    with _client(Client, LocalCluster, address, settings) as client:
        futures = {
            client.submit(
                encode_shard, spec, shards[index], resources=settings.resources or None, pure=False
            ): index
            for index in todo
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


class _client:
    """A client of the cluster at `address`, or of a LocalCluster started (and shut
    down) here; a scheduler that cannot be reached is one clear error naming it."""

    def __init__(
        self,
        client: Callable[..., Any],
        cluster: Callable[..., Any],
        address: str | None,
        settings: ExecutorSettings,
    ) -> None:
        self.make_client, self.make_cluster = client, cluster
        self.address, self.settings = address, settings
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        if self.address:
            try:
                self.client = self.make_client(self.address, timeout="10s")
            except (OSError, TimeoutError) as error:
                raise QragInputError(
                    f"cannot reach the Dask scheduler at {self.address!r} ({type(error).__name__}: "
                    f"{str(error).splitlines()[0] if str(error) else 'no answer'}). Fix: start it "
                    "(dask scheduler) and its workers, correct embed.executor.address or "
                    "DASK_SCHEDULER_ADDRESS, or unset both to start a local cluster."
                ) from error
            return self.client
        self.cluster = self.make_cluster(
            n_workers=self.settings.n_workers,
            threads_per_worker=self.settings.threads_per_worker,
            processes=self.settings.processes,
            dashboard_address=None,
            resources=self.settings.resources or None,
        )
        self.client = self.make_client(self.cluster)
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
