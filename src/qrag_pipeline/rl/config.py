"""The learner's settings: `QLearningConfig` and `DistributedConfig`, checked when made.

Torch-free, so that the parameter checks made before the first node (`parameters.py`)
build the same config the learner will, without importing torch. A config comes from
the `train_q.learning` parameters through `learning_config`, or is written directly
(benchmarks, tests); either way `QLearningConfig.__post_init__` checks every setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qrag_pipeline.checks import is_finite_number, is_whole
from qrag_pipeline.errors import QragInputError

TRAINABLE_CHOICES = ("all", "top_layers")
PRECISIONS = ("auto", "float32", "bfloat16")
LABEL_LOSSES = ("none", "margin", "softmax")
TARGET_SOURCES = ("target_network", "online")
BACKENDS = ("auto", "gloo", "nccl")
LOCAL_ENDPOINT = "localhost:0"
"""One machine's rendezvous: a free port of this host."""


@dataclass
class QLearningConfig:
    """The learner's hyper-parameters; defaults are the reference's for BabiLong."""

    gamma: float = 0.99
    """Discount per retrieval step."""
    lam: float = 0.65
    """lambda of the Q(lambda) targets: 0 is one-step TD, 1 the Monte Carlo return."""
    alpha: float = 0.01
    """Soft-max temperature at the peak learning rate; it follows the schedule."""
    targets: str = "target_network"
    """Where the next states' values in the Q(lambda) targets come from:
    "target_network" (the reference: a Polyak-averaged copy of both encoders, one more
    encoder pass per step) or "online" (PQN's: the online network's own values, read
    off the policy's pass over the next states, which it makes anyway; no copy)."""
    tau: float = 0.1
    """Polyak rate of the target network per optimiser step (targets="target_network")."""
    top_k: int = 5
    """The soft value and the behaviour policy weigh only the k best available ones."""
    learning_rate: float = 5e-5
    """Peak AdamW learning rate, reached at the end of warm-up."""
    adam_betas: tuple[float, float] = (0.9, 0.98)
    """AdamW moment decay rates."""
    adam_eps: float = 1e-6
    """AdamW denominator epsilon."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay."""
    warmup_updates: int = 1000
    """Updates of linear warm-up; the rate then falls linearly to 0 at total_updates."""
    total_updates: int = 50_000
    """Optimiser steps of a full training run."""
    num_envs: int = 8
    """Episodes stepped in parallel."""
    num_steps: int = 8
    """Steps per rollout; num_envs * num_steps transitions make one update."""
    max_steps: int = 6
    """Chunks retrieved per training episode at most."""
    max_grad_norm: float = 2.0
    """Gradient-norm clipping threshold."""
    learning_start: int = 200
    """Updates during which the behaviour policy picks uniformly random chunks."""
    grad_accumulation: int = 1
    """Rollouts whose gradients are summed into one optimiser step."""
    terminate_on_success: bool = True
    """End a training episode once all supporting facts are found."""
    per_fact_reward: float = 0.0
    """Extra reward for each newly found supporting fact."""
    extra_step_penalty: float = 0.0
    """Minus the reward of a pick made after every supporting fact is found; with
    terminate_on_success the episode takes one such pick, then ends. Positive: Q
    learns to fall once the facts are complete, which the learned stop reads."""
    trainable: str = "all"
    """Which weights train: "all", or "top_layers" (each encoder's last layers)."""
    trainable_layers: int = 2
    """Transformer layers per encoder that train when trainable is "top_layers"."""
    precision: str = "auto"
    """Of the encoders' matrix products while training: "float32", "bfloat16", or
    "auto" (bfloat16 on CUDA and on CPUs with native bfloat16, else float32)."""
    label_loss: str = "none"
    """The supervised term on the supporting facts beside the TD loss (docs/method.md):
    "none" (the reference), "margin" (DQfD's large margin: the best missing fact above
    every other available chunk by label_margin) or "softmax" (cross-entropy over the
    document's available chunks with the missing facts as positives)."""
    label_weight: float = 1.0
    """w in loss = TD + w * label term."""
    label_margin: float = 0.2
    """Margin of the label term, on Q at the TD loss's scale (2 * each twin half)."""
    label_margin_decay: bool = False
    """The margin follows the learning-rate schedule (warm-up, then linear to 0)."""
    label_temperature: float = 0.1
    """Softmax form only: the logits are (2 * q + margin off the facts) / temperature."""
    seed: int = 0
    """Seed of the episode stream and of the behaviour policy's sampling."""
    eval_every: int = 500
    """Updates between two held-out greedy evaluations."""
    eval_episodes: int = 100
    """Held-out episodes per evaluation."""

    def __post_init__(self) -> None:
        problems = _setting_problems(self)
        if problems:
            raise QragInputError(
                f"learner settings in train_q.learning: {'; '.join(problems)}. Fix: set "
                "them in the train_q parameters (counts are whole numbers, rates finite "
                "numbers)."
            )


_POSITIVE_COUNTS = (
    "num_envs",
    "num_steps",
    "max_steps",
    "grad_accumulation",
    "total_updates",
    "top_k",
    "eval_every",
    "trainable_layers",
)
_NON_NEGATIVE_COUNTS = ("warmup_updates", "learning_start", "eval_episodes")
_POSITIVE_RATES = ("learning_rate", "alpha", "tau", "adam_eps", "max_grad_norm", "label_temperature")
_UNIT_INTERVAL = ("gamma", "lam", "tau")


def _setting_problems(config: QLearningConfig) -> list[str]:
    """What is wrong with each setting: a wrong type first, then a wrong sign or range.

    A string or a float where a count belongs would otherwise fail deep in training
    (or, for a float `total_updates`, silently train a fraction of an update more).
    """
    problems: dict[str, str] = {}

    def check(names: Sequence[str], valid: Callable[[Any], bool], requirement: str) -> None:
        for name in names:
            value = getattr(config, name)
            if name not in problems and not valid(value):
                problems[name] = f"{name}={value!r} must be {requirement}"

    reals = sorted(
        name for name, field in QLearningConfig.__dataclass_fields__.items() if field.type == "float"
    )
    check((*_POSITIVE_COUNTS, *_NON_NEGATIVE_COUNTS, "seed"), is_whole, "a whole number")
    check(reals, is_finite_number, "a finite number")
    check(("terminate_on_success", "label_margin_decay"), lambda v: isinstance(v, bool), "true or false")
    check(("label_loss",), lambda v: v in LABEL_LOSSES, f"one of {LABEL_LOSSES}")
    check(("targets",), lambda v: v in TARGET_SOURCES, f"one of {TARGET_SOURCES}")
    check(("trainable",), lambda v: v in TRAINABLE_CHOICES, f"one of {TRAINABLE_CHOICES}")
    check(("precision",), lambda v: v in PRECISIONS, f"one of {PRECISIONS}")
    check(
        ("adam_betas",),
        lambda v: (
            isinstance(v, (tuple, list))
            and len(v) == 2
            and all(is_finite_number(b) and 0 <= b < 1 for b in v)
        ),
        "two numbers in [0, 1)",
    )
    check(_POSITIVE_COUNTS + _POSITIVE_RATES, lambda v: v > 0, "positive")
    check(
        (*_NON_NEGATIVE_COUNTS, "weight_decay", "extra_step_penalty", "label_weight", "label_margin"),
        lambda v: v >= 0,
        "0 or more",
    )
    check(_UNIT_INTERVAL, lambda v: 0 <= v <= 1, "between 0 and 1")
    return list(problems.values())


def learning_config(values: Mapping[str, Any]) -> QLearningConfig:
    """`QLearningConfig` from parameters, naming any key it does not know."""
    known = set(QLearningConfig.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise QragInputError(
            f"unknown learner parameters {unknown}. Fix: use only {sorted(known)} in train_q.learning."
        )
    return QLearningConfig(**values)


@dataclass(frozen=True)
class DistributedConfig:
    """`train_q.distributed`: how many data-parallel training processes, and where they
    meet (`training_processes.py`)."""

    nproc_per_node: int = 1
    """Processes on this machine (one GPU each on CUDA); 1 with nnodes 1: one process."""
    nnodes: int = 1
    """Machines, each running the same `kedro run` command."""
    rdzv_endpoint: str = LOCAL_ENDPOINT
    """host:port where the machines' launchers meet (one machine: a free local port)."""
    backend: str = "auto"
    """auto (nccl on CUDA, gloo on the CPU) | gloo | nccl."""

    def __post_init__(self) -> None:
        for name in ("nproc_per_node", "nnodes"):
            value = getattr(self, name)
            if not (is_whole(value) and value >= 1):
                raise QragInputError(
                    f"train_q.distributed.{name}={value!r} must be a whole number of at "
                    f"least 1. Fix: set train_q.distributed.{name}."
                )
        if self.backend not in BACKENDS:
            raise QragInputError(
                f"train_q.distributed.backend={self.backend!r} is not one of {list(BACKENDS)}. "
                "Fix: set train_q.distributed.backend to one of them."
            )
        if not re.fullmatch(r"[^:\s]+:\d+", str(self.rdzv_endpoint)):
            raise QragInputError(
                f"train_q.distributed.rdzv_endpoint={self.rdzv_endpoint!r} is not host:port. "
                f"Fix: give one machine's host:port (or {LOCAL_ENDPOINT} on one machine)."
            )
        if self.nnodes > 1 and self.rdzv_endpoint == LOCAL_ENDPOINT:
            raise QragInputError(
                f"train_q.distributed.nnodes={self.nnodes} needs a rendezvous every machine "
                "reaches. Fix: set train_q.distributed.rdzv_endpoint to host:port of one of "
                "them, the same on every machine."
            )

    @property
    def processes(self) -> int:
        """All training processes of the run, over every machine."""
        return self.nproc_per_node * self.nnodes


def distributed_config(values: Mapping[str, Any] | None) -> DistributedConfig:
    """`DistributedConfig` from `train_q.distributed` (absent: one process), naming any
    key it does not know."""
    known = set(DistributedConfig.__dataclass_fields__)
    unknown = sorted(set(values or {}) - known)
    if unknown:
        raise QragInputError(
            f"unknown train_q.distributed settings {unknown}. Fix: use only {sorted(known)}."
        )
    return DistributedConfig(**dict(values or {}))
