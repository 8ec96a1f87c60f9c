"""qrag-pipeline: multi-step retrieval over very long documents with a Q-trained embedder."""

__version__ = "0.1.0"
