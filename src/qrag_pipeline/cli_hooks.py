"""Kedro CLI hook: bad input ends `kedro run` with its message, not a stack trace.

Every loader raises `QragInputError` with a sentence that names the input and the fix;
a page of library frames above that sentence only hides it. Other exceptions are bugs
and keep their full traceback.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from kedro.framework.cli.hooks import cli_hook_impl

from qrag_pipeline.errors import QragInputError


class ReadableInputErrors:
    """Print a `QragInputError` as one message on stderr (exit status 1)."""

    @cli_hook_impl
    def before_command_run(self, project_metadata: Any, command_args: list[str]) -> None:
        sys.excepthook = _excepthook_for(sys.excepthook)


def _excepthook_for(fallback: Any) -> Any:
    def excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if isinstance(error, QragInputError):
            print(f"\nError: {error}", file=sys.stderr)  # noqa: T201 - the CLI's last word
        else:
            fallback(kind, error, trace)

    return excepthook


cli_hooks = ReadableInputErrors()
