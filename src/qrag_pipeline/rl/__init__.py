"""Reinforcement learning of the Q-embedder: retrieval environment and learner."""
