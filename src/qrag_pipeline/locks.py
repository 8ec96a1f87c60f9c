"""One run at a time per working folder: a second run of the same work stops clearly.

Two identical `kedro run`s started side by side share their working folders (train_q's
run folder, named by the parameters' fingerprint; a sharded encoding's shard folder,
named by its texts and encoder), and would write the same checkpoints or shards at
once. Each holds an exclusive lock on a file in its folder while it works; a second
run finds the lock taken and stops at once with a message naming the folder, instead
of corrupting the first run's files or dying on a rename. The operating system drops a
lock when its process ends, however it ends, so a killed run never leaves a stale one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qrag_pipeline.errors import QragInputError

LOCK_FILE = ".lock"


@contextmanager
def exclusive(folder: str | Path, work: str) -> Iterator[None]:
    """Hold `folder`'s lock for the block, or raise `QragInputError` if another
    process holds it (`work` says what the folder is for, in the message)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "another process"
            raise QragInputError(
                f"{work} in {str(folder)!r} is already running (process {holder}). Fix: "
                "wait for that run to finish (the same command then resumes or reuses "
                "its work), or run with other parameters."
            ) from error
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)  # closing the file drops the lock
