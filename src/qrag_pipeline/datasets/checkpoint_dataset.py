"""A versioned Kedro dataset for Q-embedder checkpoint folders.

kedro-datasets has no non-experimental safetensors dataset; this adapter keeps the
format in one place (`qrag_pipeline.checkpoints`) and gives it Kedro's versioning:
`<filepath>/<timestamp>/<name>/` per save, loads of the latest or a pinned version.
"""

from __future__ import annotations

from qrag_pipeline.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from qrag_pipeline.datasets.folder_dataset import VersionedFolderDataset


class QCheckpointDataset(VersionedFolderDataset[Checkpoint]):
    """Saves and loads a `Checkpoint` as a folder of safetensors and JSON files."""

    read = staticmethod(load_checkpoint)
    write = staticmethod(save_checkpoint)
