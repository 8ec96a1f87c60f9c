"""Chunk embeddings of an episode set: every distinct chunk text encoded once.

Encoding chunks is the one cost of inference that grows with document length beyond a
dot product (docs/method.md, "Inference"), and episodes built from one pool of
book text share most of their sentences (200 episodes at 32k tokens hold 240,000
chunks but about 65,000 distinct ones). So a set is embedded as one table of distinct
texts plus, per episode, the rows of its chunks in document order. Vectors are kept in
float16 by default (half the memory and disk; Q values move by about 1e-3 relative).
A set also records which encoder made it, so that a query can be embedded by the same
one. On disk: numpy `.npy` files read with allow_pickle=False and one JSON file, so
loading never executes code.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from torch import Tensor

from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.json_files import read_json_object
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.staging import staged

VECTORS_FILE = "vectors.npy"
ROWS_FILE = "rows.npy"
INDEX_FILE = "embeddings.json"
FORMAT_VERSION = 2
DTYPES = ("float16", "float32")
INDEX_KEYS = frozenset({"texts", "episode_ids", "lengths", "encode_s", "encoder"})


@dataclass
class EpisodeEmbeddings:
    """Distinct chunk texts, their vectors, and which rows make up each episode.

    `encode_s` is the wall time of the encoding that produced `vectors` (all episodes
    together), so that an evaluation reading saved embeddings can still report the
    encoding share of its seconds per question. `encoder` is that encoder's
    `TextEncoder.encoder_config()`: for a pretrained encoder,
    `TextEncoder.from_pretrained(**encoder)` rebuilds it to embed queries alike (for a
    trained one it names the base model, not the trained weights).
    """

    texts: list[str]
    vectors: np.ndarray
    rows: dict[str, np.ndarray]
    encode_s: float = 0.0
    encoder: dict[str, Any] = field(default_factory=dict)

    def of(self, episode_id: str) -> Tensor:
        """The chunk embeddings [N_i, D] of one episode, float32, in chunk order."""
        return torch.from_numpy(self.vectors[self._rows(episode_id)].astype(np.float32, copy=False))

    def n_chunks(self, episode_id: str) -> int:
        """How many chunks episode `episode_id` has (without copying its vectors)."""
        return len(self._rows(episode_id))

    def _rows(self, episode_id: str) -> np.ndarray:
        if episode_id not in self.rows:
            raise QragInputError(
                f"no embeddings for episode {episode_id!r}. Fix: embed the same "
                "episode set that is evaluated (rerun the embed pipeline)."
            )
        return self.rows[episode_id]


def embed_episodes(
    encoder: TextEncoder,
    episodes: Sequence[Episode],
    dtype: str = "float16",
    progress: bool = True,
) -> EpisodeEmbeddings:
    """Embed the chunks of `episodes` with `encoder`, each distinct text once.

    Episode ids must be unique: they are the keys by which an evaluation finds an
    episode's rows.
    """
    _check_unique_ids(episodes)
    return _embedded(
        encoder, [episode.chunks for episode in episodes], [e.id for e in episodes], dtype, progress
    )


def embed_texts(
    encoder: TextEncoder,
    texts: Sequence[str],
    dtype: str = "float16",
    progress: bool = True,
) -> EpisodeEmbeddings:
    """Embed each distinct text of `texts` once, belonging to no episode (`rows` is
    empty): a table of known texts, such as the training pools a frozen action
    encoder looks its chunks up in."""
    return _embedded(encoder, [texts], [], dtype, progress)


def _embedded(
    encoder: TextEncoder,
    chunk_lists: Sequence[Sequence[str]],
    ids: Sequence[str],
    dtype: str,
    progress: bool,
) -> EpisodeEmbeddings:
    """The distinct texts of `chunk_lists` embedded once; `ids` name the lists whose
    rows are kept (none: a table of texts only)."""
    _check_dtype(dtype)
    start = time.perf_counter()
    texts, table, rows = _encode_distinct(encoder, chunk_lists, progress)
    return EpisodeEmbeddings(
        texts=texts,
        vectors=table.cpu().numpy().astype(dtype, copy=False),
        rows=dict(zip(ids, rows, strict=False)),  # no ids: a table of texts only
        encode_s=time.perf_counter() - start,
        encoder=encoder.encoder_config(),
    )


def encode_chunk_lists(
    encoder: TextEncoder, chunk_lists: Sequence[Sequence[str]], progress: bool = False
) -> list[Tensor]:
    """Per list, the embeddings [N_i, D] of its chunks (float32, on the encoder's
    device), each distinct text across all lists encoded once.

    Unlike `embed_episodes` this needs no episode ids, so it serves callers whose
    episodes may share an id (held-out scoring during training).
    """
    _, table, rows = _encode_distinct(encoder, chunk_lists, progress)
    return [table[torch.from_numpy(row).to(table.device)] for row in rows]


def save_embeddings(embeddings: EpisodeEmbeddings, directory: str | Path) -> Path:
    """Write `embeddings` to `directory` as two `.npy` files and one JSON file, all
    at once (`qrag_pipeline.staging`)."""
    ids = list(embeddings.rows)
    rows = [embeddings.rows[episode_id] for episode_id in ids]
    index = {
        "format_version": FORMAT_VERSION,
        "texts": embeddings.texts,
        "episode_ids": ids,
        "lengths": [len(row) for row in rows],
        "encode_s": embeddings.encode_s,
        "encoder": embeddings.encoder,
    }
    with staged(directory) as staging:
        staging.mkdir()
        np.save(staging / VECTORS_FILE, embeddings.vectors, allow_pickle=False)
        np.save(
            staging / ROWS_FILE,
            np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
            allow_pickle=False,
        )
        (staging / INDEX_FILE).write_text(json.dumps(index))
    return Path(directory)


def load_embeddings(directory: str | Path) -> EpisodeEmbeddings:
    """Read what `save_embeddings` wrote; a missing, damaged or pickled file is a
    `QragInputError`."""
    directory = Path(directory)
    index = _read_index(directory / INDEX_FILE)
    vectors = _read_array(directory / VECTORS_FILE)
    flat_rows = _read_array(directory / ROWS_FILE)
    _check_layout(directory, index, vectors, flat_rows)
    flat_rows = flat_rows.astype(np.int64, copy=False)
    ends = np.cumsum(index["lengths"], dtype=np.int64)
    return EpisodeEmbeddings(
        texts=list(index["texts"]),
        vectors=vectors,
        rows={
            episode_id: flat_rows[end - length : end]
            for episode_id, length, end in zip(index["episode_ids"], index["lengths"], ends, strict=True)
        },
        encode_s=float(index["encode_s"]),
        encoder=dict(index["encoder"]),
    )


def dense_index(vectors: np.ndarray | Tensor) -> faiss.IndexFlatIP:
    """An exact inner-product faiss index over `vectors` [N, D] (copied as float32).

    Inner product, not cosine: it is the score the Q-function's dot products are
    compared with.
    """
    array = np.ascontiguousarray(torch.as_tensor(vectors).detach().cpu().numpy(), dtype=np.float32)
    if array.ndim != 2:
        raise QragInputError(f"a dense index needs vectors of shape [N, D], got {list(array.shape)}.")
    index = faiss.IndexFlatIP(array.shape[1])
    index.add(array)
    return index


def _encode_distinct(
    encoder: TextEncoder, chunk_lists: Sequence[Sequence[str]], progress: bool
) -> tuple[list[str], Tensor, list[np.ndarray]]:
    """The distinct texts in first-seen order, their embeddings [U, D] (float32, on
    the encoder's device) and, per list, the row of each chunk."""
    row_of: dict[str, int] = {}
    rows = [
        np.fromiter(
            (row_of.setdefault(chunk, len(row_of)) for chunk in chunks),
            dtype=np.int64,
            count=len(chunks),
        )
        for chunks in chunk_lists
    ]
    texts = list(row_of)
    return texts, encoder.encode(texts, progress=progress), rows


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise QragInputError(f"unknown embedding dtype {dtype!r}. Fix: use one of {', '.join(DTYPES)}.")


def _check_unique_ids(episodes: Sequence[Episode]) -> None:
    counts = Counter(episode.id for episode in episodes)
    repeated = sorted(episode_id for episode_id, n in counts.items() if n > 1)
    if repeated:
        raise QragInputError(
            f"episode ids {repeated[:5]} occur more than once, so their embeddings "
            "could not be told apart. Fix: give every episode of the set its own id."
        )


def _read_index(path: Path) -> dict:
    index = read_json_object(
        path,
        "embeddings index",
        "point at a folder written by save_embeddings (the embed pipeline), or re-embed.",
    )
    if index.get("format_version") != FORMAT_VERSION or not index.keys() >= INDEX_KEYS:
        raise QragInputError(
            f"{str(path)!r} is not an embeddings index of format version "
            f"{FORMAT_VERSION} with keys {sorted(INDEX_KEYS)}. Fix: re-embed with "
            "this version."
        )
    return index


def _read_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise QragInputError(
            f"cannot read {str(path)!r} as a plain numpy array ({error}); pickled "
            "arrays are refused. Fix: re-embed with save_embeddings."
        ) from error


def _check_layout(directory: Path, index: dict, vectors: np.ndarray, flat_rows: np.ndarray) -> None:
    """Fail on files that do not fit together (mixed from two runs, truncated)."""
    lengths = index["lengths"]
    fits = (
        vectors.ndim == 2
        and vectors.shape[0] == len(index["texts"])
        and flat_rows.ndim == 1
        and len(lengths) == len(index["episode_ids"])
        and sum(lengths) == flat_rows.shape[0]
        and (flat_rows.size == 0 or 0 <= flat_rows.min() <= flat_rows.max() < len(vectors))
    )
    if not fits:
        raise QragInputError(
            f"the embedding files in {str(directory)!r} do not fit together "
            f"(vectors {list(vectors.shape)}, {len(index['texts'])} texts, "
            f"{flat_rows.shape[0]} rows for {len(lengths)} episodes). Fix: re-embed "
            "into an empty folder."
        )
