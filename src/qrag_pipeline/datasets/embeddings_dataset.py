"""A versioned Kedro dataset for the chunk embeddings of an episode set.

The format lives in one place (`qrag_pipeline.retrieval.embeddings`: `.npy` vectors
and rows, one JSON index, nothing pickled); this adapter gives it Kedro's versioning:
`<filepath>/<timestamp>/<name>/` per save, loads of the latest or a pinned version.

The folder holds no faiss index file, on purpose. The dense baseline searches one
episode at a time over that episode's chunks in chunk order, while the stored table
holds each distinct text once across all episodes, so a single index of the table
would answer the wrong question. And an exact `IndexFlatIP` is nothing but a float32
copy of the vectors (no training, no structure): `dense_index` rebuilds it from
`EpisodeEmbeddings.of(episode_id)` when the baseline searches, for the price of a
memory copy, where a file would double the disk and could drift from the vectors.
"""

from __future__ import annotations

from qrag_pipeline.datasets.folder_dataset import VersionedFolderDataset
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings, load_embeddings, save_embeddings


class EpisodeEmbeddingsDataset(VersionedFolderDataset[EpisodeEmbeddings]):
    """Saves and loads `EpisodeEmbeddings` as a folder of `.npy` and JSON files."""

    read = staticmethod(load_embeddings)
    write = staticmethod(save_embeddings)
