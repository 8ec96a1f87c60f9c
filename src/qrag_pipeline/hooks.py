"""Project hooks: a run needs sound parameters and saved inputs, and a failed run leaves
nothing behind.

- `RequireEnvironmentHook` names an unknown `--env` before plugins read their own
  configuration from its folder (kedro-mlflow would fail first, on a traceback).
- `CheckParametersHook` checks the type and sign of every parameter the run reads
  (`qrag_pipeline.parameters.RULES`) before any node runs, so a string where a count
  belongs is named at once instead of failing as a `TypeError` hours into a run.
- Kedro finds a missing input only when the node that reads it starts, and reports it
  as a `DatasetError` deep in a traceback ("Did not find any versions for ..."), which
  does not say that another pipeline has to run first. `RequireSavedInputsHook` checks
  every input before the first node and names the pipeline that makes it.
- Kedro saves each node's outputs as soon as the node ends, so a run that fails at its
  third node would otherwise keep the first two nodes' versioned files as if they were
  a complete run. `RemovePartialArtifactsHook` remembers every file the run saved and
  removes them when the pipeline raises.
- kedro-mlflow records a run's parameters and the metrics of its MLflow datasets. Its
  MlflowArtifactDataset, which wraps a file dataset to log it, gives a versioned file its
  own save timestamp, which Kedro 1.7's catalog refuses (every versioned dataset of a
  run shares one). `TrackArtifactsHook` logs instead, after Kedro saved it, the version
  of each dataset whose catalog metadata names an `mlflow.artifact_path`, and tags the
  run with the path of every versioned artifact it saves or loads (`saved/<dataset>`,
  `loaded/<dataset>`): a run of evaluate names the checkpoint it scored, one of train_q
  the checkpoint it made, without copying checkpoints (versioned on disk already, and
  large) into the MLflow store.
"""

from __future__ import annotations

import importlib
import logging
import shutil
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset
from kedro.pipeline import Pipeline

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.parameters import check_parameters
from qrag_pipeline.pipeline_registry import STAGES

LOGGER = logging.getLogger(__name__)
PIPELINES_PACKAGE = "qrag_pipeline.pipelines"


class RequireEnvironmentHook:
    """Name an unknown `--env` before any plugin reads its own configuration.

    kedro-mlflow reads `mlflow.yml` when the context is created; without the environment's
    folder it falls back to its defaults (a ./mlruns store, which MLflow 3.13+ refuses)
    and ends on a traceback about that store. Loading the parameters first raises Kedro's
    own error naming the missing folder, which the CLI hook prints as one line.
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        context.config_loader["parameters"]


class CheckParametersHook:
    """Fail before the first node when a parameter the run reads is of the wrong type or
    sign (checked before the inputs: a parameter is the cheaper thing to fix)."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        names = sorted(name for name in pipeline.inputs() if name.startswith("params:"))
        check_parameters({name.removeprefix("params:"): catalog.load(name) for name in names})


class RequireSavedInputsHook:
    """Fail before the first node when an input of the run was never saved.

    First with the parameter check (`tryfirst`): before plugins' hooks, so that
    kedro-mlflow starts no MLflow run that a refused Kedro run would leave open (Kedro
    calls no `on_pipeline_error` for an error raised in `before_pipeline_run`)."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        missing = sorted(name for name in pipeline.inputs() if not catalog.exists(name))
        pinned = run_params.get("load_versions") or {}
        if any(name in pinned for name in missing):
            raise QragInputError(missing_versions_message(missing, pinned, catalog))
        if missing:
            running = run_params.get("pipeline_names") or []
            raise QragInputError(missing_inputs_message(missing, running))


def missing_versions_message(missing: list[str], pinned: dict[str, str], catalog: Any) -> str:
    """Which version that --load-versions pins was never saved, and which ones were."""
    named = "; ".join(
        f"{name} has no version {pinned[name]!r} (saved: {_saved_versions(catalog, name)[-5:]})"
        for name in missing
        if name in pinned
    )
    return (
        f"--load-versions names versions that do not exist: {named}. Fix: pin one of the "
        "saved versions (newest last), or leave the dataset out of --load-versions to "
        "load its latest version."
    )


def _saved_versions(catalog: Any, name: str) -> list[str]:
    """The saved versions (timestamps, oldest first) of a local versioned dataset."""
    filepath = getattr(catalog.get(name), "_filepath", None)
    folder = Path(str(filepath)) if filepath is not None else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(v.name for v in folder.iterdir() if (v / folder.name).exists())


def missing_inputs_message(missing: list[str], running: list[str]) -> str:
    """Which inputs are missing, the stage that makes each, and the commands to run."""
    outputs = {stage: pipeline.outputs() for stage, pipeline in _stages().items()}
    makers = {name: next((stage for stage in outputs if name in outputs[stage]), None) for name in missing}
    named = ", ".join(f"{name} (made by {makers[name] or 'no pipeline'})" for name in missing)
    stages = [stage for stage in STAGES if stage in makers.values()]
    if not stages:
        return (
            f"no saved version of {named}. Fix: add it to conf/base/catalog.yml, or "
            "give an existing version with --load-versions."
        )
    together = ",".join([*stages, *running])
    return (
        f"no saved version of {named} yet. Fix: run {' and '.join(stages)} first "
        f"(kedro run --pipelines {','.join(stages)}), or in the same run "
        f"(kedro run --pipelines {together})."
    )


def _stages() -> dict[str, Pipeline]:
    """Every stage of the project, in `STAGES` order.

    Built from each stage's own module: Kedro 1.7's pipeline discovery (`pipelines`,
    `find_pipelines`) holds only the pipelines the run asked for.
    """
    return {
        stage: importlib.import_module(f"{PIPELINES_PACKAGE}.{stage}").create_pipeline() for stage in STAGES
    }


class RemovePartialArtifactsHook:
    """Delete what a run saved if that run fails."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._saved: list[Path] = []

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog
        self._saved = []

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        path = _saved_path(self._catalog, dataset_name)
        if path is not None:
            self._saved.append(path)

    @hook_impl
    def on_pipeline_error(self) -> None:
        for path in reversed(self._saved):
            _remove(path)
        if self._saved:
            LOGGER.error(
                "the run failed: removed the %d artifacts it had written: %s",
                len(self._saved),
                ", ".join(str(p) for p in self._saved),
            )
        self._saved = []


def _saved_path(catalog: Any, dataset_name: str) -> Path | None:
    """Where a local file dataset just wrote: the version folder for versioned ones."""
    dataset = catalog.get(dataset_name) if catalog is not None else None
    filepath = getattr(dataset, "_filepath", None)  # Kedro keeps no public accessor
    if filepath is None or getattr(dataset, "_protocol", "file") != "file":
        return None
    if isinstance(dataset, AbstractVersionedDataset):
        version = dataset.resolve_save_version()
        return Path(str(dataset._get_versioned_path(version))).parent
    return Path(str(filepath))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


class TrackArtifactsHook:
    """Log to the active MLflow run the artifacts the catalog marks, and tag it with the
    path of every versioned artifact the Kedro run saves or loads; without an active
    run (tracking off) it does nothing."""

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        dataset = self._versioned(dataset_name)
        if dataset is None:
            return
        path = Path(str(dataset._get_versioned_path(dataset.resolve_save_version()))).absolute()
        mlflow.set_tag(f"saved/{dataset_name}", str(path))
        artifact_path = ((getattr(dataset, "metadata", None) or {}).get("mlflow") or {}).get("artifact_path")
        if artifact_path is not None:
            mlflow.log_artifact(str(path), artifact_path)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        dataset = self._versioned(dataset_name)
        if dataset is not None:
            path = Path(str(dataset._get_versioned_path(dataset.resolve_load_version())))
            mlflow.set_tag(f"loaded/{dataset_name}", str(path.absolute()))

    def _versioned(self, dataset_name: str) -> AbstractVersionedDataset | None:
        """The catalog's versioned dataset of that name while an MLflow run is active."""
        if mlflow.active_run() is None or self._catalog is None:
            return None
        dataset = self._catalog.get(dataset_name)
        if isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None:
            return dataset
        return None
