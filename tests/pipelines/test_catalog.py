"""The catalog: its dataset factories resolve every table to the file it always had, and
`kedro run --only-missing-outputs` reruns only the nodes whose outputs are missing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.io import AbstractVersionedDataset, DataCatalog
from kedro_datasets.matplotlib import MatplotlibDataset

from qrag_pipeline.datasets.atomic_files import ParquetDataset
from qrag_pipeline.datasets.embeddings_dataset import EpisodeEmbeddingsDataset
from qrag_pipeline.settings import CONFIG_LOADER_ARGS
from tests.conftest import PROJECT_ROOT
from tests.projects import kedro_cli

FACTORY_DATASETS = {
    "babi_train_stories": (ParquetDataset, "data/03_primary/babi_train_stories.parquet"),
    "babi_test_stories": (ParquetDataset, "data/03_primary/babi_test_stories.parquet"),
    "train_distractor_sentences": (ParquetDataset, "data/03_primary/train_distractor_sentences.parquet"),
    "test_distractor_sentences": (ParquetDataset, "data/03_primary/test_distractor_sentences.parquet"),
    "hotpotqa_train_episodes": (ParquetDataset, "data/05_model_input/hotpotqa_train_episodes.parquet"),
    "babilong_eval_episodes": (ParquetDataset, "data/05_model_input/babilong_eval_episodes.parquet"),
    "ruler_eval_episodes": (ParquetDataset, "data/05_model_input/ruler_eval_episodes.parquet"),
    "hotpotqa_eval_episodes": (ParquetDataset, "data/05_model_input/hotpotqa_eval_episodes.parquet"),
    "eval_episodes": (ParquetDataset, "data/05_model_input/eval_episodes.parquet"),
    "q_retrieval_traces": (ParquetDataset, "data/07_model_output/q_retrieval_traces.parquet"),
    "baseline_traces": (ParquetDataset, "data/07_model_output/baseline_traces.parquet"),
    "training_pool_embeddings": (EpisodeEmbeddingsDataset, "data/04_feature/training_pool_embeddings"),
    "pretrained_chunk_embeddings": (EpisodeEmbeddingsDataset, "data/04_feature/pretrained_chunk_embeddings"),
    "report_accuracy_plot": (MatplotlibDataset, "data/08_reporting/report_accuracy_plot.png"),
    "report_training_plot": (MatplotlibDataset, "data/08_reporting/report_training_plot.png"),
    "report_cost_plot": (MatplotlibDataset, "data/08_reporting/report_cost_plot.png"),
}
"""The datasets the factories make, each with the class and file it had as an entry of
its own (earlier runs' versions still load)."""


def test_the_factories_resolve_each_table_to_its_versioned_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # filepaths resolve against the working directory
    config = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env="base", **CONFIG_LOADER_ARGS)
    catalog = DataCatalog.from_config(config["catalog"])
    for name, (kind, filepath) in FACTORY_DATASETS.items():
        dataset = catalog.get(name)
        assert type(dataset) is kind, name
        assert isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None, name
        assert Path(str(dataset._filepath)).absolute() == tmp_path / filepath, name
    # a name no stage uses matches no factory: it stays a memory dataset of the run
    assert catalog.get("report_accuracy_png") is None


def _versions(project: Path, folder: str, name: str) -> list[str]:
    return sorted(path.parent.name for path in (project / "data" / folder / name).glob(f"*/{name}"))


def test_only_missing_outputs_skips_what_exists_and_remakes_what_is_missing(
    copy_of: Callable[[Path], Path], prepared_project: Path
) -> None:
    project_copy = copy_of(prepared_project)
    episodes = _versions(project_copy, "05_model_input", "eval_episodes.parquet")
    pool = _versions(project_copy, "04_feature", "training_pool_embeddings")
    (chunks,) = _versions(project_copy, "04_feature", "pretrained_chunk_embeddings")
    shutil.rmtree(project_copy / "data/04_feature/pretrained_chunk_embeddings" / chunks)

    done = kedro_cli(project_copy, "--pipelines", "data_prep,embed", "--only-missing-outputs")
    assert done.returncode == 0, done.stderr[-3000:]

    # data_prep's tables and the pool embeddings exist: not one node of them ran again
    assert _versions(project_copy, "05_model_input", "eval_episodes.parquet") == episodes
    assert _versions(project_copy, "04_feature", "training_pool_embeddings") == pool
    # the deleted chunk embeddings were made again, by their node alone
    assert len(_versions(project_copy, "04_feature", "pretrained_chunk_embeddings")) == 1
    assert "Running 1 out of 8 nodes" in done.stdout + done.stderr
