"""Sharded encoding: the same vectors as one pass, on Dask as locally, resumed after a
kill from the shards already written, one run per work folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.locks import exclusive
from qrag_pipeline.retrieval import sharded_encoding
from qrag_pipeline.retrieval.sharded_encoding import (
    EncoderSpec,
    ExecutorSettings,
    ShardedEncoder,
    encode_shard,
)

TEXTS = [f"Sentence number {i} says {'something ' * (i % 7)}about item {i * 7 % 13}." for i in range(45)]
SPEC = EncoderSpec.of({"num_layers": 1, "max_length": 64}, threads=1)


def _sharded(tmp_path: Path, **settings) -> ShardedEncoder:
    return ShardedEncoder(SPEC, ExecutorSettings(shard_size=10, **settings), tmp_path / "work")


def test_shards_give_the_vectors_of_encoding_each_shard_in_order(tmp_path: Path) -> None:
    vectors = _sharded(tmp_path).encode(TEXTS)
    expected = np.concatenate([encode_shard(SPEC, TEXTS[s : s + 10]) for s in range(0, 45, 10)])
    assert vectors.shape == (45, 384) and np.array_equal(vectors.numpy(), expected)
    direct = sharded_encoding.loaded_encoder(SPEC).encode(TEXTS)
    torch.testing.assert_close(vectors, direct, atol=1e-5, rtol=1e-4)  # batching differs only
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


def test_a_killed_encoding_resumes_from_the_shards_it_wrote(tmp_path: Path, monkeypatch) -> None:
    expected = _sharded(tmp_path / "reference").encode(TEXTS).numpy()
    calls: list[int] = []
    real = sharded_encoding.encode_shard

    def killed_after_two(spec, texts):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies here
        calls.append(len(texts))
        return real(spec, texts)

    monkeypatch.setattr(sharded_encoding, "encode_shard", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        _sharded(tmp_path).encode(TEXTS)
    (work,) = (tmp_path / "work").iterdir()
    assert sorted(p.name for p in work.glob("shard-*")) == ["shard-000000.npy", "shard-000001.npy"]

    resumed: list[int] = []
    monkeypatch.setattr(
        sharded_encoding, "encode_shard", lambda spec, texts: resumed.append(len(texts)) or real(spec, texts)
    )
    vectors = _sharded(tmp_path).encode(TEXTS)
    assert resumed == [10, 10, 5]  # shards 2-4 only
    assert np.array_equal(vectors.numpy(), expected)


def test_a_cache_keeps_finished_shards_and_a_later_encoding_reads_those_it_shares(
    tmp_path: Path, monkeypatch
) -> None:
    expected = _sharded(tmp_path / "reference").encode(TEXTS).numpy()
    real = sharded_encoding.encode_shard
    encoded: list[str] = []
    monkeypatch.setattr(
        sharded_encoding, "encode_shard", lambda spec, texts: encoded.append(texts[0]) or real(spec, texts)
    )
    cached = ShardedEncoder(SPEC, ExecutorSettings(shard_size=10), tmp_path / "work", tmp_path / "cache")
    assert np.array_equal(cached.encode(TEXTS).numpy(), expected)
    assert len(encoded) == 5 and len(list((tmp_path / "cache").glob("shard-*.npy"))) == 5
    assert not any((tmp_path / "work").iterdir())  # the run's own folder is removed

    encoded.clear()
    longer = [*TEXTS[:30], "A sentence no earlier encoding held.", *TEXTS[30:]]
    vectors = cached.encode(longer).numpy()
    assert encoded == [longer[30], longer[40]]  # the first three shards are the cache's
    assert np.array_equal(vectors[:30], expected[:30])
    assert np.array_equal(
        vectors, np.concatenate([encode_shard(SPEC, longer[s : s + 10]) for s in range(0, 46, 10)])
    )


def test_a_second_encoding_of_the_same_texts_at_once_stops_clearly(tmp_path: Path) -> None:
    encoder = _sharded(tmp_path)
    work = tmp_path / "work" / encoder._fingerprint(TEXTS)
    with (
        exclusive(work, "an encoding of these texts"),
        pytest.raises(
            QragInputError,
            match=r"an encoding of these texts in .* is already running \(process \d+\)\. Fix: wait",
        ),
    ):
        encoder.encode(TEXTS)


@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "two-processes"])
def test_a_dask_cluster_gives_exactly_the_local_result(tmp_path: Path, processes: bool) -> None:
    local = _sharded(tmp_path / "local").encode(TEXTS)
    on_dask = _sharded(
        tmp_path / "dask", kind="dask", n_workers=2 if processes else 1, processes=processes
    ).encode(TEXTS)
    assert torch.equal(local, on_dask)


def test_a_scheduler_that_cannot_be_reached_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        QragInputError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:1'.*Fix:"
    ):
        _sharded(tmp_path, kind="dask", address="tcp://127.0.0.1:1").encode(TEXTS)


def test_bad_executor_settings_are_clear_errors() -> None:
    with pytest.raises(QragInputError, match=r"unknown embed\.executor\.kind 'ray'"):
        ExecutorSettings(kind="ray")
    with pytest.raises(QragInputError, match=r"embed\.executor\.shard_size=0 must be a whole number"):
        ExecutorSettings(shard_size=0)
