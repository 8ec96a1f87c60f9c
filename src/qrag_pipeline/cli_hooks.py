"""Kedro CLI hook: bad input ends `kedro run` with its message, not a stack trace.

Every loader raises `QragInputError` with a sentence that names the input and the fix;
a page of library frames above that sentence only hides it. Kedro's own error for an
unknown `--env` (a `MissingConfigException` naming the missing folder) gets the same
treatment, with the environments that do exist. Other exceptions are bugs and keep
their full traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.cli.hooks import cli_hook_impl

from qrag_pipeline.errors import QragInputError


class ReadableInputErrors:
    """Print a `QragInputError` as one message on stderr (exit status 1)."""

    @cli_hook_impl
    def before_command_run(self, project_metadata: Any, command_args: list[str]) -> None:
        sys.excepthook = _excepthook_for(sys.excepthook)


def _excepthook_for(fallback: Any) -> Any:
    def excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        message = readable_message(error)
        if message is not None:
            print(f"\nError: {message}", file=sys.stderr)  # noqa: T201 - the CLI's last word
        else:
            fallback(kind, error, trace)

    return excepthook


_NO_CONFIG_FOLDER = "Given configuration path either does not exist or is not a valid directory: "


def readable_message(error: BaseException) -> str | None:
    """The one-line message for a user's mistake, or None for a bug (full traceback).

    Kedro wraps what a dataset's `load` raises in `DatasetError` (twice: the dataset,
    then the catalog), so an input error from reading an artifact (a truncated
    checkpoint) is found along the chain of causes.
    """
    cause = input_error_in(error)
    if cause is not None:
        return str(cause)
    if isinstance(error, MissingConfigException) and _NO_CONFIG_FOLDER in str(error):
        folder = Path(str(error).split(_NO_CONFIG_FOLDER, 1)[1].strip())
        parent = folder.parent
        known = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
        return (
            f"configuration environment {folder.name!r} does not exist (no folder "
            f"{str(folder)!r}). Fix: use one of {known} (kedro run --env NAME, or the "
            "KEDRO_ENV variable), or create that folder for a new environment."
        )
    return None


def input_error_in(error: BaseException | None) -> QragInputError | None:
    """The `QragInputError` that `error` is, or was raised from (`raise ... from`), if
    any; an error raised while handling one (`__context__` alone) is a bug of its own."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, QragInputError):
            return error
        seen.add(id(error))
        error = error.__cause__
    return None


cli_hooks = ReadableInputErrors()
