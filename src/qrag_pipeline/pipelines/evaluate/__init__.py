"""evaluate: episodes + embeddings + checkpoint -> retrieval traces and metrics."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
