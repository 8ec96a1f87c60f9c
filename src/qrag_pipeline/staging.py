"""Writing an artifact so that it appears whole or not at all.

A run killed during a save (SIGKILL, out of memory, power loss) must not leave a
truncated file or a half-filled folder where the next run will load it. Every writer of
a file or folder artifact therefore writes at a hidden name beside the target
(`.<name>.<random>`, in the same folder, so the rename is atomic) and renames the
result onto the target when it is complete; a failed write removes what it wrote, and
the target's parent folder
too where the write created it and it stayed empty (a version folder of Kedro's with
no version in it). A crash leaves only hidden `.<name>.*` folders, which no loader
reads (`training.py` reclaims those of interrupted checkpoints).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged(target: str | Path) -> Iterator[Path]:
    """A free path (nothing there yet) to write a file or folder at, renamed onto
    `target` when the block ends without error and removed when it fails."""
    target = Path(target)
    created = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{secrets.token_hex(6)}"
    try:
        yield staging
        os.replace(staging, target)
    except BaseException:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
        if created and not any(target.parent.iterdir()):
            target.parent.rmdir()
        raise
