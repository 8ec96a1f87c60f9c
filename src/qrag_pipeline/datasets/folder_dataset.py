"""A versioned Kedro dataset whose artifact is a folder, read and written by the core.

Checkpoints and chunk embeddings are folders of safetensors, `.npy` and JSON files whose
format lives in one core module each; this base class gives them Kedro's versioning
(`<filepath>/<timestamp>/<name>/` per save) without repeating the adapter, and
makes every save atomic (staging folder + rename).
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
        """Write into a hidden staging folder beside the target, then rename it: a run
        killed during the save leaves no half-written version for a later load."""
        target = Path(str(self._get_save_path()))
        created = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            type(self).write(data, staging / target.name)
            os.replace(staging / target.name, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if created and not any(target.parent.iterdir()):
                target.parent.rmdir()  # the version's folder, empty: no version at all
            raise
        staging.rmdir()

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except VersionNotFoundError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
