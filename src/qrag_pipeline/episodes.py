"""The episode: one question over one long document cut into chunks.

Every benchmark builder (BabiLong, RULER, HotpotQA) produces episodes in this one
schema, and every later pipeline (embed, train_q, evaluate) reads only this schema, so a
new benchmark needs a builder and nothing else. On disk an episode set is a Parquet
table with one row per episode and the columns of `EPISODE_COLUMNS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from qrag_pipeline.errors import QragInputError

EPISODE_COLUMNS = (
    "id",
    "benchmark",
    "task",
    "length_bucket",
    "question",
    "answer",
    "chunks",
    "support",
    "n_tokens",
)

_TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


def approx_token_count(texts: Iterable[str]) -> int:
    """Words plus punctuation marks: a tokenizer-free length close to subword counts.

    Length buckets are defined by sentence counts (docs/benchmarks.md); this count is only
    reported, so it need not depend on any one model's tokenizer.
    """
    return sum(len(_TOKEN_PATTERN.findall(text)) for text in texts)


@dataclass(frozen=True)
class Episode:
    """A question, its answer, the document's chunks and which chunks support it.

    `support` holds chunk indices in document order; it is empty where the source
    does not say which chunks support the answer (the Hugging Face BabiLong sets).
    """

    id: str
    benchmark: str
    task: str
    length_bucket: str
    question: str
    answer: str
    chunks: list[str]
    support: list[int] = field(default_factory=list)
    n_tokens: int = 0

    def __post_init__(self) -> None:
        if not self.chunks:
            raise QragInputError(
                f"episode {self.id!r} has no chunks: its document is empty. "
                "Fix: check the source text of this episode."
            )
        bad = [i for i in self.support if not 0 <= i < len(self.chunks)]
        if bad:
            raise QragInputError(
                f"episode {self.id!r}: support indices {bad} are outside its "
                f"{len(self.chunks)} chunks. Fix: check the supporting-fact ids of "
                "the source question."
            )


EpisodeSampler = Callable[[np.random.Generator], Episode]
"""Training episodes made on the fly: each call draws one from the caller's generator
(a builder's sampler: `babilong_sampler`, `niah_sampler`, `hotpotqa_sampler`), so the
stream of episodes an environment sees is fixed by its seed."""


def episodes_to_frame(episodes: Iterable[Episode]) -> pd.DataFrame:
    """One row per episode, columns in `EPISODE_COLUMNS` order."""
    rows = [asdict(episode) for episode in episodes]
    return pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))


def episodes_from_frame(frame: pd.DataFrame) -> list[Episode]:
    """Inverse of `episodes_to_frame`; checks the schema so a wrong table fails early."""
    missing = [c for c in EPISODE_COLUMNS if c not in frame.columns]
    if missing:
        raise QragInputError(
            f"episode table lacks columns {missing}. Fix: build it with a "
            "qrag_pipeline builder (data_prep) rather than by hand."
        )
    return [
        Episode(
            id=str(row.id),
            benchmark=str(row.benchmark),
            task=str(row.task),
            length_bucket=str(row.length_bucket),
            question=str(row.question),
            answer=str(row.answer),
            chunks=[str(chunk) for chunk in row.chunks],
            support=[int(i) for i in row.support],
            n_tokens=int(row.n_tokens),
        )
        for row in frame.itertuples(index=False)
    ]
