"""Fixtures shared by the whole suite.

Real data written by others lives in ../shared/data next to the checkout (official bAbI
files, Project Gutenberg books, a HotpotQA sample). Tests that need it take the
`shared_data` fixture, which skips them with the reason where that folder is absent;
nothing of it is copied into the project.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from kedro.framework.startup import bootstrap_project
from transformers import AutoTokenizer, BertConfig

from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.models.encoder import DEFAULT_ENCODER, TextEncoder, resolve_encoder_path
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.rl.config import QLearningConfig
from qrag_pipeline.training import TrainingResult, train_q_embedder
from tests.projects import (
    NO_RUN_FOLDER,
    PROJECT_ROOT,
    TRACKING_STORE,
    make_project,
    run_stage,
    single_torch_thread,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: one torch thread each, in the worker and in
    # the `kedro run` processes it starts, so that the workers do not contend.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)


def data_files(project: Path) -> set[str]:
    """Every file under the project's data/ but MLflow's store, relative to the project:
    what a failed run must leave as it found (its artifacts, whole or not at all)."""
    return {
        str(path.relative_to(project))
        for path in (project / "data").rglob("*")
        if path.is_file() and not path.relative_to(project).is_relative_to(TRACKING_STORE)
    }


TINY_LEARNING = QLearningConfig(
    total_updates=4,
    warmup_updates=1,
    learning_start=0,
    learning_rate=3e-3,
    num_envs=2,
    num_steps=2,
    max_steps=3,
    eval_every=2,
    eval_episodes=2,
    seed=5,
)
"""A training run of a few updates of a tiny network, for tests of whole runs."""


def train_tiny(
    make_tiny_network: Callable[..., QNetwork],
    training_data: tuple[EpisodeSampler, list[Episode]],
    run_dir: Path | None,
    learning: QLearningConfig = TINY_LEARNING,
    select_best: bool = False,
    keep_checkpoints: int = 2,
) -> TrainingResult:
    """A tiny network (seed 11) trained on the CPU on `training_data` (sampler,
    validation episodes), checkpointed every 2 updates into `run_dir`, the latest
    `keep_checkpoints` kept."""
    sampler, validation = training_data
    return train_q_embedder(
        lambda: make_tiny_network(seed=11),
        learning,
        sampler,
        validation,
        run_dir,
        checkpoint_every=2,
        device=torch.device("cpu"),
        keep_checkpoints=keep_checkpoints,
        progress=False,
        select_best=select_best,
    )


SHARED_DATA = Path(os.environ.get("QRAG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def toy_paragraph_episodes(count: int, chunks: int, support: list[int]) -> list[Episode]:
    """`count` HotpotQA-like episodes of `chunks` distinct "title: text" chunks each,
    `support` the same positions in every one: mixes can then be traced back."""
    return [
        Episode(
            f"e{n}",
            "hotpotqa",
            "hotpotqa",
            "distractor",
            f"q{n}?",
            "a",
            [f"T{n}{k}: text {n} {k}" for k in range(chunks)],
            list(support),
        )
        for n in range(count)
    ]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data (../shared/data), or a skip saying why it is needed."""
    if not (SHARED_DATA / "babi").is_dir():
        pytest.skip(
            f"real data folder {SHARED_DATA} is absent: this test reads the official "
            "bAbI files / books / HotpotQA sample kept outside the repository "
            "(set QRAG_SHARED_DATA to their folder to run it)"
        )
    return SHARED_DATA


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test (`single_torch_thread`)."""
    with single_torch_thread():
        yield


# A tiny randomly initialised BERT that reads text with the default tokenizer: encoder,
# learning and checkpoint logic tested in seconds.
TINY_BERT: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}

TinyFactory = Callable[..., TextEncoder]


@pytest.fixture(scope="session")
def default_tokenizer() -> transformers.PreTrainedTokenizerBase:
    """The default encoder's tokenizer (a local directory, no hub)."""
    return AutoTokenizer.from_pretrained(resolve_encoder_path(DEFAULT_ENCODER))


@pytest.fixture(scope="session")
def make_tiny(default_tokenizer: transformers.PreTrainedTokenizerBase) -> TinyFactory:
    """A factory of tiny encoders with seeded random weights: make_tiny(seed, **kw).

    Extra keyword arguments override the BertConfig fields of TINY_BERT.
    """

    def make(seed: int = 0, scale: float = 0.1, max_length: int = 128, **overrides: int) -> TextEncoder:
        torch.manual_seed(seed)
        config = BertConfig(vocab_size=len(default_tokenizer), **{**TINY_BERT, **overrides})
        return TextEncoder.from_config(config, default_tokenizer, scale=scale, max_length=max_length)

    return make


@pytest.fixture(scope="session")
def make_tiny_network(make_tiny: TinyFactory) -> Callable[..., QNetwork]:
    """A factory of tiny Q-networks whose two encoders start equal:
    make(seed, scale, frozen_action_encoder=..., action_head=...)."""

    def make(seed: int = 0, scale: float = 0.1, **action_side: Any) -> QNetwork:
        encoder = make_tiny(seed=seed, scale=scale, max_length=64)
        return QNetwork(encoder, copy.deepcopy(encoder), **action_side)

    return make


# Scratch projects, so that tests never touch ./data. The session's tiny projects are
# each made once per worker and copied by the tests that start from them, never changed.


PROJECT_FIXTURES = frozenset(
    {
        "project_copy",
        "copy_of",
        "data_prepped_project",
        "prepared_project",
        "trained_project",
        "evaluated_project",
    }
)
"""A test that takes one of these runs Kedro pipelines on a scratch project: it is
marked `slow` (left out by `make test-fast`), as are the tests marked by hand that
start processes or make their projects themselves."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROJECT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _after_stage(
    factory: pytest.TempPathFactory, name: str, source: Path | None, stage: str, params: dict | None = None
) -> Path:
    """A copy of project `source` (None: an empty one) where `stage` then ran (tiny, CPU)."""
    project = make_project(factory.mktemp(name) / "project", data_from=source)
    run_stage(project, stage, params)
    return project


@pytest.fixture(scope="session")
def data_prepped_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project where data_prep ran."""
    return _after_stage(tmp_path_factory, "data_prepped", None, "data_prep")


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory: pytest.TempPathFactory, data_prepped_project: Path) -> Path:
    """A project where data_prep and embed ran, ready to train."""
    return _after_stage(tmp_path_factory, "prepared", data_prepped_project, "embed")


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory, prepared_project: Path) -> Path:
    """A project where data_prep, embed and train_q ran."""
    return _after_stage(tmp_path_factory, "trained", prepared_project, "train_q", NO_RUN_FOLDER)


@pytest.fixture(scope="session")
def evaluated_project(tmp_path_factory: pytest.TempPathFactory, trained_project: Path) -> Path:
    """A project where data_prep, embed, train_q and evaluate ran."""
    return _after_stage(tmp_path_factory, "evaluated", trained_project, "evaluate")


@pytest.fixture(scope="session", autouse=True)
def _remove_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Delete the session's models at its end: pytest keeps the last three sessions'
    temporary folders, a tiny model is 0.1 GB and a training checkpoint 0.5 GB."""
    yield
    for models in tmp_path_factory.getbasetemp().glob("**/data/06_models"):
        shutil.rmtree(models, ignore_errors=True)


@pytest.fixture
def copy_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path | None], Path]:
    """`copy_of(project)`: a scratch copy of one of the session's projects above (None:
    an empty data/), as the cwd, where `run_pipeline` and `kedro run` then work."""

    def copy(source: Path | None) -> Path:
        project = make_project(tmp_path / "project", data_from=source)
        monkeypatch.chdir(project)
        bootstrap_project(project)
        return project

    return copy


@pytest.fixture
def project_copy(copy_of: Callable[[Path | None], Path]) -> Path:
    """A scratch project with an empty data/, as the cwd."""
    return copy_of(None)


@pytest.fixture
def run_pipeline() -> Callable[..., dict]:
    """`run_pipeline("data_prep", params={...})`: `run_stage` in the scratch project
    that is the cwd (`project_copy` or `copy_of`)."""

    def run(pipeline: str, params: dict | None = None) -> dict:
        return run_stage(Path.cwd(), pipeline, params)

    return run
