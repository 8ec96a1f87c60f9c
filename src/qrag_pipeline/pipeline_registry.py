"""Project pipelines: the five stages, and `__default__` chaining them end to end."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

STAGES = ("data_prep", "embed", "train_q", "evaluate", "report")


def register_pipelines() -> dict[str, Pipeline]:
    """Each stage by name, plus `__default__` = all stages (Kedro orders them by data).

    Kedro 1.7 may load only the pipelines a run asks for, so `__default__` sums the
    stages that were found.
    """
    pipelines = find_pipelines(raise_errors=True)
    found = [pipelines[name] for name in STAGES if name in pipelines]
    pipelines["__default__"] = sum(found, Pipeline([]))
    return pipelines
