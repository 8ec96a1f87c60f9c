"""Kedro's file datasets, writing local files atomically (temporary file + rename).

kedro-datasets opens the target path and writes into it, so a run killed during a save
(SIGKILL, out of memory, power loss) leaves a truncated Parquet or CSV file at the
versioned path, and the next run loads it as the latest version: a pyarrow error at
best, a silently shorter table at worst. No hook can help, since a killed process
runs none. These subclasses write through `qrag_pipeline.staging.staged` (a hidden
temporary file beside the target, flushed to disk, then renamed onto it), which a
reader sees whole or not at all; a failed save removes its temporary file. Remote
filesystems (s3://, gs://) keep the library's behaviour: their object stores publish an
upload only when it ends.

Use them in the catalog as `qrag_pipeline.datasets.atomic_files.ParquetDataset` (and
`CSVDataset`, `TextDataset`) with the same arguments as the kedro-datasets classes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset
from kedro_datasets.text import TextDataset as _TextDataset

from qrag_pipeline.staging import staged

_WRITE_MODES = ("w", "x")


class AtomicLocalFileSystem:
    """An fsspec filesystem whose `open` for writing is atomic; all else is delegated."""

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        if name == "_fs":  # not set yet (copy, unpickle): no recursion
            raise AttributeError(name)
        return getattr(self._fs, name)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if not any(flag in mode for flag in _WRITE_MODES):
            return self._fs.open(path, mode, **kwargs)
        return atomic_open(path, mode.replace("x", "w"), **kwargs)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """A file to write that appears at `path`, flushed to disk, only when the block
    ends without error (`staging.staged`)."""
    with staged(path) as temporary, open(temporary, mode, **kwargs) as stream:  # noqa: PTH123
        yield stream
        stream.flush()
        os.fsync(stream.fileno())


class _AtomicWrites:
    """Mixin: after the dataset's own `__init__`, local writes go through a temporary file."""

    _fs: Any
    _protocol: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._protocol == "file":
            self._fs = AtomicLocalFileSystem(self._fs)


class ParquetDataset(_AtomicWrites, _ParquetDataset):
    """`pandas.ParquetDataset` with atomic local writes."""


class CSVDataset(_AtomicWrites, _CSVDataset):
    """`pandas.CSVDataset` with atomic local writes."""


class TextDataset(_AtomicWrites, _TextDataset):
    """`text.TextDataset` with atomic local writes."""
