"""report: metrics + training curves -> tables and plots a person reads."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
