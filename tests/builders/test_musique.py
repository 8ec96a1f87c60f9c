"""MuSiQue episodes on the real records: chunks, support and ids."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from qrag_pipeline.builders.musique import build_musique_episodes
from qrag_pipeline.sources.musique import parse_musique_file

SAMPLE = "musique/musique_ans_v1.0_train.sample100.json.gz"


def test_episodes_hold_every_paragraph_with_its_title_and_the_marked_support(shared_data: Path) -> None:
    path = shared_data / SAMPLE
    raw = json.loads(gzip.decompress(path.read_bytes()))
    episodes = build_musique_episodes(parse_musique_file(path))

    assert len({e.id for e in episodes}) == len(episodes) == len(raw)
    for episode, row in zip(episodes, raw, strict=True):
        assert episode.benchmark == "musique" and episode.question == row["question"].strip()
        assert len(episode.chunks) == len(row["paragraphs"])
        for chunk, paragraph in zip(episode.chunks, row["paragraphs"], strict=True):
            text = " ".join(paragraph["paragraph_text"].split())
            assert chunk == f"{paragraph['title'].strip()}: {text}"
        assert sorted(episode.support) == [i for i, p in enumerate(row["paragraphs"]) if p["is_supporting"]]
        assert 2 <= len(episode.support) <= 4
