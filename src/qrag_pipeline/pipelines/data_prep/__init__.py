"""data_prep: benchmark sources -> training pools and evaluation episodes."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
