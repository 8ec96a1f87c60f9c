"""Kedro project settings: hooks, and a soft merge so an environment can override one
nested parameter (e.g. `data_prep.babilong.eval_lengths`) without restating its
whole top-level group."""

import warnings
from pathlib import Path

from qrag_pipeline.hooks import (
    CheckParametersHook,
    RemovePartialArtifactsHook,
    RequireEnvironmentHook,
    RequireSavedInputsHook,
    TrackArtifactsHook,
)

# Kedro 1.7 calls an OmegaConf API that OmegaConf deprecated; the warning is theirs.
warnings.filterwarnings("ignore", message="register_new_resolver", category=UserWarning)

# Both checks run before every other hook (`tryfirst`); among those, pluggy calls the
# hook registered last first: the parameters are checked before the saved inputs.
HOOKS = (
    RequireEnvironmentHook(),
    RequireSavedInputsHook(),
    CheckParametersHook(),
    RemovePartialArtifactsHook(),
    TrackArtifactsHook(),
)

# `${cwd:}`: the folder `kedro run` starts in, as an absolute path. mlflow.yml's SQLite
# store needs one: MLflow caches a store per URI string, so a relative
# `sqlite:///data/09_tracking/mlflow.db` would keep writing to the first project's file for every
# later session in the same process (a notebook, the test suite).
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft", "catalog": "soft"},
    "custom_resolvers": {"cwd": lambda: Path.cwd().as_posix()},
}
