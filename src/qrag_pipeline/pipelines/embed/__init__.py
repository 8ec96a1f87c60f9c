"""embed: evaluation episodes + an encoder -> chunk embeddings per episode set."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
