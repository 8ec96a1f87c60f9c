"""train_q: training pools + parameters -> Q-embedder checkpoint and training curves."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
