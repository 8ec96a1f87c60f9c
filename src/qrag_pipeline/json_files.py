"""Reading the JSON files of saved artifacts, with errors a user can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qrag_pipeline.errors import QragInputError


def read_json_object(path: Path, what: str, fix: str) -> dict[str, Any]:
    """The JSON object in `path`; a missing, unreadable or non-object file names
    `what` it should have been and the `fix`."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise QragInputError(f"cannot read {what} {str(path)!r}: {error}. Fix: {fix}") from error
    if not isinstance(value, dict):
        raise QragInputError(f"{what} {str(path)!r} is not a JSON object. Fix: {fix}")
    return value
