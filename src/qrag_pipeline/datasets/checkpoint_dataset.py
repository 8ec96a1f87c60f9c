"""A versioned Kedro dataset for Q-embedder checkpoint folders.

kedro-datasets has no non-experimental safetensors dataset; this adapter keeps the
format in one place (`qrag_pipeline.checkpoints`) and gives it Kedro's versioning:
`<filepath>/<timestamp>/<name>/` per save, loads of the latest or a pinned version.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import VersionNotFoundError

from qrag_pipeline.checkpoints import Checkpoint, load_checkpoint, save_checkpoint


class QCheckpointDataset(AbstractVersionedDataset[Checkpoint, Checkpoint]):
    """Saves and loads a `Checkpoint` as a folder of safetensors and JSON files."""

    def __init__(self, filepath: str, version: Version | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version)

    def load(self) -> Checkpoint:
        return load_checkpoint(Path(str(self._get_load_path())))

    def save(self, data: Checkpoint) -> None:
        save_checkpoint(data, Path(str(self._get_save_path())))

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except VersionNotFoundError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
