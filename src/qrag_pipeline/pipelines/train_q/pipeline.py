"""The train_q pipeline. Registered now so that `__default__` chains all five stages in
their final order; its nodes arrive with the issue that builds this stage."""

from kedro.pipeline import Pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([])
