"""embed: evaluation episodes + an encoder -> chunk embeddings and faiss indexes."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
