"""Project hooks: a failed run leaves no partial artifact behind.

Kedro saves each node's outputs as soon as the node ends, so a run that fails at its
third node would otherwise keep the first two nodes' versioned files as if they were
a complete run. This hook remembers every file the run saved and removes them when
the pipeline raises.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset

LOGGER = logging.getLogger(__name__)


class RemovePartialArtifactsHook:
    """Delete what a run saved if that run fails."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._saved: list[Path] = []

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog
        self._saved = []

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        path = _saved_path(self._catalog, dataset_name)
        if path is not None:
            self._saved.append(path)

    @hook_impl
    def on_pipeline_error(self) -> None:
        for path in reversed(self._saved):
            _remove(path)
        if self._saved:
            LOGGER.error(
                "the run failed: removed the %d artifacts it had written: %s",
                len(self._saved),
                ", ".join(str(p) for p in self._saved),
            )
        self._saved = []


def _saved_path(catalog: Any, dataset_name: str) -> Path | None:
    """Where a local file dataset just wrote: the version folder for versioned ones."""
    dataset = catalog.get(dataset_name) if catalog is not None else None
    filepath = getattr(dataset, "_filepath", None)  # Kedro keeps no public accessor
    if filepath is None or getattr(dataset, "_protocol", "file") != "file":
        return None
    if isinstance(dataset, AbstractVersionedDataset):
        version = dataset.resolve_save_version()
        return Path(str(dataset._get_versioned_path(version))).parent
    return Path(str(filepath))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
