"""The retrieval MDP of docs/method.md, stepped for several episodes side by side.

State: a question and the chunks retrieved so far; action: one chunk not yet
retrieved; reward: nothing until the step that completes the supporting facts. The
environment holds text and indices only, no embeddings, so scripted actions can test
it and any policy (learned, random, a baseline) can drive it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.seeding import rng_for


@dataclass
class EpisodeProgress:
    """One environment's episode in progress: what was retrieved, in retrieval order."""

    episode: Episode
    retrieved: list[int] = field(default_factory=list)
    episode_return: float = 0.0
    available: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.available = np.ones(len(self.episode.chunks), dtype=bool)
        self.available[self.retrieved] = False

    @property
    def n_found(self) -> int:
        """Supporting facts retrieved so far."""
        return len(set(self.retrieved) & set(self.episode.support))

    @property
    def success(self) -> bool:
        """All supporting facts are retrieved (fact exact match)."""
        return self.n_found == len(self.episode.support)

    @property
    def found_at(self) -> int:
        """The number of picks that completed the supporting facts (0: not yet)."""
        missing = set(self.episode.support)
        for picks, index in enumerate(self.retrieved, start=1):
            missing.discard(index)
            if not missing:
                return picks
        return 0


@dataclass(frozen=True)
class EpisodeOutcome:
    """How one finished episode went, for the training logs."""

    env: int
    episode_id: str
    retrieved: tuple[int, ...]
    support: tuple[int, ...]
    episode_return: float
    fact_em: bool


class StepResult(NamedTuple):
    """What one vectorised step returns; the envs in `dones` have already been reset."""

    rewards: np.ndarray
    dones: np.ndarray
    finished: list[EpisodeOutcome]


class RetrievalEnv:
    """`num_envs` retrieval episodes stepped together, each reset as soon as it ends.

    An episode ends after `max_steps` picks, when no chunk is left, or, with
    `terminate_on_success`, once every supporting fact is found (training need not
    watch an agent wander after the reward is paid). With an `extra_step_penalty`,
    each pick after every supporting fact is found is rewarded -penalty, and a
    `terminate_on_success` episode ends after the first such pick: Q then learns to
    fall once the facts are complete, which is what the learned stop reads.
    """

    def __init__(
        self,
        sampler: EpisodeSampler,
        num_envs: int,
        max_steps: int,
        seed: int,
        terminate_on_success: bool = True,
        per_fact_reward: float = 0.0,
        extra_step_penalty: float = 0.0,
    ) -> None:
        if num_envs < 1 or max_steps < 1:
            raise QragInputError(
                f"num_envs={num_envs}, max_steps={max_steps}. Fix: give both as positive whole numbers."
            )
        self.sampler = sampler
        self.num_envs = num_envs
        self.max_steps = max_steps
        self.terminate_on_success = terminate_on_success
        self.per_fact_reward = per_fact_reward
        self.extra_step_penalty = extra_step_penalty
        self.rng = rng_for(seed, "retrieval-env")
        self.progress = [self._new_episode() for _ in range(num_envs)]

    def reset(self, env: int) -> None:
        """Start a new episode in `env`, discarding the one in progress."""
        self.progress[env] = self._new_episode()

    def step(self, actions: Sequence[int]) -> StepResult:
        """Take chunk `actions[i]` in env i; finished envs are reset on return."""
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        finished: list[EpisodeOutcome] = []
        for env, action in enumerate(actions):
            progress = self.progress[env]
            rewards[env] = self._retrieve(progress, int(action))
            progress.episode_return += float(rewards[env])
            if self._is_over(progress):
                dones[env] = True
                finished.append(self._outcome(env, progress))
                self.reset(env)
        return StepResult(rewards, dones, finished)

    def state_dict(self) -> dict[str, Any]:
        """The episodes in progress and the generator, as plain JSON-able values."""
        return {
            "rng": self.rng.bit_generator.state,
            "progress": [
                {
                    "episode": asdict(p.episode),
                    "retrieved": list(p.retrieved),
                    "episode_return": p.episode_return,
                }
                for p in self.progress
            ],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue exactly where `state_dict` left off."""
        self.rng.bit_generator.state = state["rng"]
        self.progress = [
            EpisodeProgress(
                Episode(**p["episode"]),
                list(p["retrieved"]),
                float(p["episode_return"]),
            )
            for p in state["progress"]
        ]

    def _new_episode(self) -> EpisodeProgress:
        episode = self.sampler(self.rng)
        if not episode.support:
            raise QragInputError(
                f"training episode {episode.id!r} has no supporting-fact ids, so no "
                "reward can be given. Fix: train on episodes built with support ids."
            )
        return EpisodeProgress(episode)

    def _retrieve(self, progress: EpisodeProgress, action: int) -> float:
        """Mark `action` retrieved and return its reward (docs/method.md)."""
        if not 0 <= action < len(progress.available) or not progress.available[action]:
            raise ValueError(
                f"chunk {action} is not available in episode {progress.episode.id!r} "
                f"(retrieved so far: {progress.retrieved})"
            )
        complete = progress.success
        progress.available[action] = False
        progress.retrieved.append(action)
        support = progress.episode.support
        if complete:
            return -self.extra_step_penalty
        if action not in support:
            return 0.0
        reward = self.per_fact_reward
        if progress.success:
            reward += 0.5 + 0.5 * len(support) / len(progress.retrieved)
        return reward

    def _is_over(self, progress: EpisodeProgress) -> bool:
        extra_picks = 1 if self.extra_step_penalty else 0
        return (
            len(progress.retrieved) >= self.max_steps
            or not progress.available.any()
            or (
                self.terminate_on_success
                and progress.success
                and len(progress.retrieved) >= progress.found_at + extra_picks
            )
        )

    @staticmethod
    def _outcome(env: int, progress: EpisodeProgress) -> EpisodeOutcome:
        return EpisodeOutcome(
            env=env,
            episode_id=progress.episode.id,
            retrieved=tuple(progress.retrieved),
            support=tuple(progress.episode.support),
            episode_return=progress.episode_return,
            fact_em=progress.success,
        )
