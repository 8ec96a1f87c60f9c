"""Inference: chunk embeddings of episode sets, multi-step Q retrieval with traces,
and the untrained baselines it is compared with (docs/benchmarks.md)."""
