"""evaluate: episodes + embeddings + checkpoint -> retrieval traces, metrics, baselines."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
