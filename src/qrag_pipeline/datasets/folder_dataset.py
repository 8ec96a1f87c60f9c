"""A versioned Kedro dataset whose artifact is a folder, read and written by the core.

Checkpoints and chunk embeddings are folders of safetensors, `.npy` and JSON files whose
format lives in one core module each; this base class gives them Kedro's versioning
(`<filepath>/<timestamp>/<name>/` per save) without repeating the adapter. The
core writers are atomic themselves, so a save needs nothing more here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Generic, TypeVar

from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import VersionNotFoundError

Artifact = TypeVar("Artifact")


class VersionedFolderDataset(AbstractVersionedDataset[Artifact, Artifact], Generic[Artifact]):
    """Subclasses name the core's `read(folder)` and `write(artifact, folder)`."""

    read: ClassVar[Callable[[Path], Any]]
    write: ClassVar[Callable[[Any, Path], Any]]

    def __init__(self, filepath: str, version: Version | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version)

    def load(self) -> Artifact:
        return type(self).read(Path(str(self._get_load_path())))

    def save(self, data: Artifact) -> None:
        """The core's writer saves atomically (`qrag_pipeline.staging`), so a run killed
        during the save leaves no half-written version for a later load."""
        type(self).write(data, Path(str(self._get_save_path())))

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except VersionNotFoundError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
