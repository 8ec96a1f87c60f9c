"""Training-pool tables round-trip through Parquet unchanged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.pools import (
    documents_from_frame,
    documents_to_frame,
    samples_from_frame,
    samples_to_frame,
)
from qrag_pipeline.sources.babi_files import BabiSample


def test_stories_and_documents_round_trip_through_parquet(tmp_path: Path) -> None:
    samples = [
        BabiSample(
            "qa2",
            0,
            ("Mary got the milk there.", "Mary went to the hallway."),
            "Where is the milk?",
            "hallway",
            (0, 1),
        ),
        BabiSample("qa1", 3, ("John moved to the office.",), "Where is John?", "office", (0,)),
    ]
    documents = {"zeta": ["Z one.", "Z two."], "alpha": ["A one."]}
    samples_to_frame(samples).to_parquet(tmp_path / "s.parquet")
    documents_to_frame(documents).to_parquet(tmp_path / "d.parquet")
    assert samples_from_frame(pd.read_parquet(tmp_path / "s.parquet")) == samples
    assert documents_from_frame(pd.read_parquet(tmp_path / "d.parquet")) == documents


def test_a_table_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(QragInputError, match=r"story pool table lacks columns \['support'\]"):
        samples_from_frame(pd.DataFrame(columns=["task", "story", "facts", "question", "answer"]))
    with pytest.raises(QragInputError, match="distractor pool"):
        documents_from_frame(pd.DataFrame({"text": ["x"]}))
