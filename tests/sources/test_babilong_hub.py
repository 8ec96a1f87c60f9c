"""The Hugging Face BabiLong loader, on a local folder in the hub's layout.

The hub itself is unreachable here (and HF_HUB_OFFLINE is set), so the hub path is
checked only for its error; the `datasets` loading code is the same for both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babilong_hub import load_babilong_hub

ROWS = [
    {
        "input": "The sun rose over the hills. Mary moved to the bathroom. "
        "The river ran cold and quick.\nJohn went to the hallway. Birds sang.",
        "question": "Where is Mary?",
        "target": "bathroom",
    },
    {
        "input": "Sandra journeyed to the garden. It rained all day long.",
        "question": "Where is Sandra? ",
        "target": "garden",
    },
]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_local_folder_in_hub_layout_loads_as_answer_only_episodes(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "1k" / "qa1.jsonl", ROWS)
    episodes = load_babilong_hub(str(tmp_path), "1k", "qa1")
    assert [e.answer for e in episodes] == ["bathroom", "garden"]
    assert episodes[1].question == "Where is Sandra?"
    first = episodes[0]
    assert first.chunks == [
        "The sun rose over the hills.",
        "Mary moved to the bathroom.",
        "The river ran cold and quick.",
        "John went to the hallway.",
        "Birds sang.",
    ]
    assert first.support == [] and first.n_tokens > 20
    assert (first.id, first.benchmark, first.task, first.length_bucket) == (
        "babilong-hub/qa1/1k/00000",
        "babilong",
        "qa1",
        "1k",
    )


def test_parquet_files_load_too(tmp_path: Path) -> None:
    (tmp_path / "4k").mkdir()
    pd.DataFrame(ROWS).to_parquet(tmp_path / "4k" / "qa2.parquet")
    assert len(load_babilong_hub(str(tmp_path), "4k", "qa2")) == 2


def test_missing_file_columns_and_unreachable_hub_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(QragInputError, match="no BabiLong file for qa1 at 1k"):
        load_babilong_hub(str(tmp_path), "1k", "qa1")
    _write_jsonl(tmp_path / "1k" / "qa1.jsonl", [{"input": "x.", "question": "q?"}])
    with pytest.raises(QragInputError, match=r"lacks columns \['target'\]"):
        load_babilong_hub(str(tmp_path), "1k", "qa1")
    with pytest.raises(QragInputError, match="cannot load BabiLong 'no-such-org/no-such-set'"):
        load_babilong_hub("no-such-org/no-such-set", "1k", "qa1")
