"""`qrag-retrieve`: multi-step retrieval over a text file from the command line.

    qrag-retrieve --question "Where is the football?" story.txt
    qrag-retrieve --checkpoint DIR --max-steps 6 --threshold 0.5 --question "..." FILE
    qrag-retrieve --no-stop --question "..." FILE
    qrag-retrieve --backend onnx-int8 --question "..." BIG_FILE

Prints one line per retrieved chunk, in document order: its index, the step that
found it, its Q value and its text. Retrieval stops at the checkpoint's learned
threshold unless --threshold gives another or --no-stop keeps all --max-steps. Bad
input (a missing or empty file, no checkpoint) ends on one error line and exit status
2, as argparse does for bad arguments, rather than a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from qrag_pipeline.api import (
    CHECKPOINT_ROOT,
    LEARNED,
    Hit,
    QRetriever,
    latest_checkpoint_dir,
)
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.backend_names import SETTINGS

PROG = "qrag-retrieve"
USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return 0, or exit with status 2 on bad input."""
    args = _parser().parse_args(argv)
    try:
        hits = _retrieve(args)
    except QragInputError as error:
        _fail(str(error))
    if not hits:
        sys.stderr.write(f"{PROG}: no chunk reached the stop threshold\n")
    for hit in hits:
        print(_format(hit))
    return 0


def _retrieve(args: argparse.Namespace) -> list[Hit]:
    document = _read(args.file)
    checkpoint = args.checkpoint or latest_checkpoint_dir(CHECKPOINT_ROOT)
    retriever = QRetriever.from_checkpoint(checkpoint, backend=args.backend)
    threshold = None if args.no_stop else LEARNED if args.threshold is None else args.threshold
    return retriever.retrieve(document, args.question, args.max_steps, threshold)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise QragInputError(
            f"cannot read {str(path)!r} ({type(error).__name__}: {error}). Fix: give "
            "an existing UTF-8 text file."
        ) from error


def _format(hit: Hit) -> str:
    return f"[{hit.index}] step {hit.step} Q={hit.q_value:.4f}  {hit.text}"


def _fail(message: str) -> NoReturn:
    """Exit with status 2 after one line on stderr, argparse style."""
    sys.stderr.write(f"{PROG}: error: {' '.join(message.split())}\n")
    raise SystemExit(USAGE_ERROR)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Retrieve the chunks of a text file that answer a question, with a trained Q-embedder.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="a UTF-8 text file")
    parser.add_argument("--question", required=True, help="the question to answer")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"a checkpoint folder (default: the newest under {CHECKPOINT_ROOT})",
    )
    parser.add_argument("--max-steps", type=int, default=4, help="chunks to retrieve (default 4)")
    parser.add_argument(
        "--backend",
        choices=SETTINGS,
        default="auto",
        help="what encodes the chunks (default auto: bfloat16 weights on CPUs with AMX, else torch)",
    )
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="stop at the first pick whose Q value is under this (default: the "
        "threshold the checkpoint learned)",
    )
    stop.add_argument("--no-stop", action="store_true", help="keep all --max-steps picks")
    return parser


if __name__ == "__main__":
    sys.exit(main())
