"""What the Q-embedder trains on: a sampler of fresh episodes and held-out validation
episodes, for any mix of tasks from the three benchmarks.

`train_q.tasks` may list bAbI tasks (BabiLong: a training story hidden in fresh
training distractor text at each reset), RULER NIAH tasks (fresh keys, values and
haystack window at each reset, the essay haystack drawn from the same training
distractors) and `hotpotqa` (its fixed training episodes). Each benchmark keeps its own
validation episodes apart from what it trains on, and the mixed sampler draws a task
uniformly, so a benchmark with more tasks gets more resets, never a larger weight per
task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from qrag_pipeline.builders.babilong import build_babilong_episodes
from qrag_pipeline.builders.hotpotqa import hotpotqa_sampler
from qrag_pipeline.builders.ruler import NIAH_TASKS, build_niah_episodes, niah_sampler
from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.rl.environment import EpisodeSampler, babilong_sampler
from qrag_pipeline.seeding import derive_seed
from qrag_pipeline.sources.babi_files import BABI_TASKS, BabiSample

HOTPOTQA_TASK = "hotpotqa"
TRAINING_LENGTH = "train"


def training_data(
    tasks: Sequence[str],
    babi_samples: Sequence[BabiSample],
    documents: Mapping[str, Sequence[str]],
    hotpotqa_episodes: Sequence[Episode],
    train_sentences: int,
    validation_questions: int,
    seed: int,
) -> tuple[EpisodeSampler, list[Episode]]:
    """The sampler over all `tasks` and every benchmark's validation episodes.

    `train_sentences` sets the document length of BabiLong and NIAH training episodes
    (HotpotQA episodes keep their own); `validation_questions` are held out per task.
    """
    unknown = [t for t in tasks if t not in BABI_TASKS and t not in NIAH_TASKS and t != HOTPOTQA_TASK]
    if unknown or not tasks:
        raise QragInputError(
            f"train_q.tasks has unknown tasks {unknown or tasks!r}. Fix: list tasks among "
            f"{[*BABI_TASKS, *NIAH_TASKS, HOTPOTQA_TASK]}."
        )
    babi = [t for t in tasks if t in BABI_TASKS]
    niah = [t for t in tasks if t in NIAH_TASKS]
    parts: list[tuple[EpisodeSampler, list[Episode], int]] = []
    if babi:
        parts.append((*babilong_training_data(babi_samples, documents, babi, train_sentences,
                                              validation_questions, seed), len(babi)))
    if niah:
        parts.append((*niah_training_data(niah, documents, train_sentences,
                                          validation_questions, seed), len(niah)))
    if HOTPOTQA_TASK in tasks:
        parts.append((*hotpotqa_training_data(hotpotqa_episodes, validation_questions), 1))
    sampler = mixed_sampler([p[0] for p in parts], [p[2] for p in parts])
    return sampler, [episode for part in parts for episode in part[1]]


def babilong_training_data(
    samples: Sequence[BabiSample],
    documents: Mapping[str, Sequence[str]],
    tasks: Sequence[str],
    train_sentences: int,
    validation_questions: int,
    seed: int,
) -> tuple[EpisodeSampler, list[Episode]]:
    """BabiLong's sampler and validation episodes, from one pool of training stories.

    The last `validation_questions` questions of each task are held out, so the
    validation curve is measured on questions the learner never trains on (with
    training distractors: the test books stay untouched for evaluate).
    """
    by_task = {task: [s for s in samples if s.task == task] for task in tasks}
    empty = [task for task, found in by_task.items() if len(found) <= validation_questions]
    if empty:
        raise QragInputError(
            f"the training pool has too few questions for tasks {empty} (needs more than "
            f"validation_questions={validation_questions}). Fix: add these tasks to "
            "data_prep.babilong.tasks, or lower train_q.validation_questions."
        )
    train = [s for found in by_task.values() for s in found[:-validation_questions]]
    held = {task: found[-validation_questions:] for task, found in by_task.items()}
    unfit = [t for t, found in held.items() if all(len(s.facts) > train_sentences for s in found)]
    if unfit:
        raise QragInputError(
            f"no held-out training question of tasks {unfit} has a story that fits in "
            f"train_q.train_sentences={train_sentences} sentences. Fix: raise "
            "train_q.train_sentences, or raise train_q.validation_questions so that "
            "more stories are held out."
        )
    validation = build_babilong_episodes(
        held, documents, [TRAINING_LENGTH], validation_questions, seed,
        {TRAINING_LENGTH: train_sentences},
    )
    return babilong_sampler(train, documents, train_sentences), validation


def niah_training_data(
    tasks: Sequence[str],
    documents: Mapping[str, Sequence[str]],
    train_sentences: int,
    validation_questions: int,
    seed: int,
) -> tuple[EpisodeSampler, list[Episode]]:
    """NIAH's sampler and validation episodes: both generated, with different seeds, so
    the validation keys and values are not ones the learner trained on."""
    validation = build_niah_episodes(
        tasks, documents, [TRAINING_LENGTH], validation_questions,
        derive_seed(seed, "niah-validation"), {TRAINING_LENGTH: train_sentences},
    )
    return niah_sampler(tasks, documents, train_sentences), validation


def hotpotqa_training_data(
    episodes: Sequence[Episode], validation_questions: int
) -> tuple[EpisodeSampler, list[Episode]]:
    """HotpotQA's sampler over its training episodes, the last `validation_questions`
    of them held out for the validation curve."""
    if len(episodes) <= validation_questions:
        raise QragInputError(
            f"train_q.tasks lists hotpotqa but there are only {len(episodes)} HotpotQA "
            f"training episodes (needs more than validation_questions="
            f"{validation_questions}). Fix: add hotpotqa to data_prep.benchmarks and "
            "give it training questions (data_prep.hotpotqa.train_questions)."
        )
    return hotpotqa_sampler(list(episodes[:-validation_questions])), list(
        episodes[-validation_questions:]
    )


def mixed_sampler(samplers: Sequence[EpisodeSampler], weights: Sequence[int]) -> EpisodeSampler:
    """One sampler that draws from `samplers[i]` with probability proportional to
    `weights[i]`, every draw from the caller's generator (so a run stays seeded)."""
    if len(samplers) == 1:
        return samplers[0]
    probabilities = np.asarray(weights, dtype=float) / sum(weights)

    def sample_episode(rng: np.random.Generator) -> Episode:
        return samplers[int(rng.choice(len(samplers), p=probabilities))](rng)

    return sample_episode
