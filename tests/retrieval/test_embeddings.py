"""Chunk embeddings of an episode set: distinct texts once, rows back, no pickle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.retrieval.embeddings import (
    VECTORS_FILE,
    embed_episodes,
    load_embeddings,
    save_embeddings,
)
from qrag_pipeline.rl.inference import encode_chunks_once
from tests.retrieval.conftest import episode, small_episodes


def _record_calls(encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every list of texts `encoder.encode` is called with, in order."""
    calls: list[list[str]] = []
    original = encoder.encode

    def recording(texts: Sequence[str], *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(list(texts))
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(encoder, "encode", recording)
    return calls


def test_every_distinct_chunk_text_is_encoded_exactly_once(make_tiny, monkeypatch) -> None:
    encoder = make_tiny(seed=1)
    episodes = small_episodes()
    calls = _record_calls(encoder, monkeypatch)
    embeddings = embed_episodes(encoder, episodes, progress=False)
    all_chunks = [chunk for e in episodes for chunk in e.chunks]
    assert len(calls) == 1
    assert sorted(calls[0]) == sorted(set(all_chunks)) and len(set(all_chunks)) < len(all_chunks)
    assert embeddings.texts == calls[0]
    assert embeddings.vectors.dtype == np.float16 and embeddings.vectors.shape == (
        len(calls[0]),
        32,
    )


def test_rows_map_back_to_each_episode_as_if_encoded_alone(make_tiny) -> None:
    encoder = make_tiny(seed=1)
    episodes = small_episodes()
    half = embed_episodes(encoder, episodes, progress=False)
    full = embed_episodes(encoder, episodes, dtype="float32", progress=False)
    for e in episodes:
        assert [half.texts[row] for row in half.rows[e.id]] == e.chunks
        alone = encoder.encode(e.chunks)
        assert half.of(e.id).dtype == torch.float32 and half.n_chunks(e.id) == len(e.chunks)
        torch.testing.assert_close(half.of(e.id), alone, rtol=2e-3, atol=1e-4)
        torch.testing.assert_close(full.of(e.id), alone, rtol=1e-5, atol=1e-6)
    assert full.encode_s > 0


def test_ids_must_be_unique_and_known(make_tiny) -> None:
    encoder = make_tiny(seed=1)
    twins = [episode("x", "Where?", ["a b c."]), episode("x", "Where?", ["d e f."])]
    with pytest.raises(QragInputError, match="occur more than once"):
        embed_episodes(encoder, twins, progress=False)
    with pytest.raises(QragInputError, match="no embeddings for episode 'y'"):
        embed_episodes(encoder, twins[:1], progress=False).of("y")
    with pytest.raises(QragInputError, match="unknown embedding dtype"):
        embed_episodes(encoder, twins[:1], dtype="int8", progress=False)


def test_encode_chunks_once_shares_the_implementation_and_allows_repeated_ids(
    make_tiny_network, monkeypatch
) -> None:
    network = make_tiny_network(seed=1)
    episodes = small_episodes() + [episode("a", "Where is Mary?", ["Mary slept.", "John slept."])]
    calls = _record_calls(network.action_encoder, monkeypatch)
    tensors = encode_chunks_once(network, episodes)
    assert len(calls) == 1 and len(calls[0]) == len(set(calls[0]))
    for e, vectors in zip(episodes, tensors, strict=True):
        torch.testing.assert_close(vectors, network.action_encoder.encode(e.chunks), rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip_in_npy_and_json(make_tiny, tmp_path: Path) -> None:
    embeddings = embed_episodes(make_tiny(seed=1), small_episodes(), progress=False)
    save_embeddings(embeddings, tmp_path / "emb")
    assert sorted(p.suffix for p in (tmp_path / "emb").iterdir()) == [
        ".json",
        ".npy",
        ".npy",
    ]
    loaded = load_embeddings(tmp_path / "emb")
    assert loaded.texts == embeddings.texts and loaded.encode_s == embeddings.encode_s
    assert loaded.encoder == embeddings.encoder == make_tiny(seed=1).encoder_config()
    assert loaded.vectors.dtype == np.float16
    np.testing.assert_array_equal(loaded.vectors, embeddings.vectors)
    assert list(loaded.rows) == list(embeddings.rows)
    for episode_id, rows in embeddings.rows.items():
        np.testing.assert_array_equal(loaded.rows[episode_id], rows)
        torch.testing.assert_close(loaded.of(episode_id), embeddings.of(episode_id), rtol=0, atol=0)


def test_pickled_or_mismatched_files_are_refused(make_tiny, tmp_path: Path) -> None:
    embeddings = embed_episodes(make_tiny(seed=1), small_episodes(), progress=False)
    save_embeddings(embeddings, tmp_path / "emb")
    vectors = tmp_path / "emb" / VECTORS_FILE
    np.save(vectors, embeddings.vectors[:-1], allow_pickle=False)
    with pytest.raises(QragInputError, match="do not fit together"):
        load_embeddings(tmp_path / "emb")
    np.save(vectors, np.array([{"code": "anything"}], dtype=object), allow_pickle=True)
    with pytest.raises(QragInputError, match="pickled arrays are refused"):
        load_embeddings(tmp_path / "emb")
    with pytest.raises(QragInputError, match="cannot read embeddings index"):
        load_embeddings(tmp_path / "nowhere")
