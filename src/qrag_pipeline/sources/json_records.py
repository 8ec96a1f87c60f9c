"""Records of a dataset file that is a JSON list or JSONL, plain or gzipped.

HotpotQA ships as a JSON list, MuSiQue as JSONL, and copies of either come gzipped or
not (whatever their suffix says): one reader for all, whose errors name the file and
the line and end with the dataset's own fix.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from qrag_pipeline.errors import QragInputError


def read_json_records(path: Path, where: str, fix: str) -> list[Any]:
    """The raw records of `path`; `where` names the input in errors, `fix` ends them."""
    text = _read_text(path, where, fix)
    if not text.strip():
        raise QragInputError(f"{where} is empty. Fix: {fix}.")
    if text.lstrip().startswith("["):
        return _loads(text, where, fix)
    return [
        _loads(line, f"{where}, line {number}", fix)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _read_text(path: Path, where: str, fix: str) -> str:
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":  # the gzip magic number, whatever the suffix says
            data = gzip.decompress(data)
        return data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise QragInputError(f"cannot read {where}: {error}. Fix: {fix}.") from error


def _loads(text: str, where: str, fix: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise QragInputError(f"{where} is not JSON: {error}. Fix: {fix}.") from error
