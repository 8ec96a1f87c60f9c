"""What the Q-embedder trains on: a sampler of fresh episodes and held-out validation
episodes, for any mix of tasks from the three benchmarks.

`train_q.tasks` may list bAbI tasks (BabiLong: a training story hidden in fresh
training distractor text at each reset), RULER NIAH tasks (fresh keys, values and
haystack window at each reset, the essay haystack drawn from the same training
distractors) and `hotpotqa` (its fixed training episodes). Each task keeps its own
validation episodes apart from what it trains on, and the mixed sampler draws a task
in proportion to its weight (`train_q.task_weights`, 1 by default), so one model can
give the hard tasks more of its resets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from qrag_pipeline.builders.babilong import babilong_sampler, build_babilong_episodes
from qrag_pipeline.builders.hotpotqa import HOTPOTQA, hotpotqa_sampler
from qrag_pipeline.builders.lengths import LengthRange
from qrag_pipeline.builders.ruler import (
    NIAH_TASKS,
    NOISE_SENTENCES,
    build_niah_episodes,
    niah_sampler,
    training_filler_texts,
)
from qrag_pipeline.checks import is_finite_number
from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.seeding import derive_seed
from qrag_pipeline.sources.babi_files import BABI_TASKS, BabiSample

HOTPOTQA_TASK = HOTPOTQA
TRAINING_LENGTH = "train"


@dataclass(frozen=True)
class TrainingPools:
    """What training episodes are made of: bAbI training questions with their stories,
    distractor documents (name -> sentences: BabiLong's background and NIAH's essay
    haystack) and HotpotQA's training episodes; a run uses those its tasks need."""

    stories: Sequence[BabiSample] = ()
    documents: Mapping[str, Sequence[str]] = field(default_factory=dict)
    hotpotqa_episodes: Sequence[Episode] = ()


def training_data(
    tasks: Sequence[str],
    babi_samples: Sequence[BabiSample],
    documents: Mapping[str, Sequence[str]],
    hotpotqa_episodes: Sequence[Episode],
    train_sentences: int | Sequence[int],
    validation_questions: int,
    seed: int,
    task_weights: Mapping[str, float] | None = None,
    hotpotqa_mix_chunks: int = 0,
) -> tuple[EpisodeSampler, list[Episode]]:
    """The sampler over all `tasks` and every task's validation episodes.

    Each reset draws a task with probability proportional to its weight in
    `task_weights` (1 for a task it does not name), then an episode of that task.
    `train_sentences` sets the document length of BabiLong and NIAH training episodes,
    one size or a range [shortest, longest] drawn from per episode (HotpotQA episodes
    keep their own, mixed with up to `hotpotqa_mix_chunks` other training paragraphs
    per draw; validation documents have the longest length); `validation_questions`
    are held out per task, and returned one task after another in turn.
    """
    lengths = LengthRange.of(train_sentences)
    known = [*BABI_TASKS, *NIAH_TASKS, HOTPOTQA_TASK]
    unknown = [t for t in tasks if t not in known]
    if unknown or not tasks:
        raise QragInputError(
            f"train_q.tasks has unknown tasks {unknown or tasks!r}. Fix: list tasks among {known}."
        )
    weights = _task_weights(tasks, task_weights or {})
    samplers: list[EpisodeSampler] = []
    validation: list[list[Episode]] = []
    for task in tasks:
        if task in BABI_TASKS:
            sampler, held_out = babilong_training_data(
                babi_samples, documents, [task], lengths, validation_questions, seed
            )
        elif task in NIAH_TASKS:
            sampler, held_out = niah_training_data([task], documents, lengths, validation_questions, seed)
        else:
            sampler, held_out = hotpotqa_training_data(
                hotpotqa_episodes, validation_questions, hotpotqa_mix_chunks
            )
        samplers.append(sampler)
        validation.append(held_out)
    return mixed_sampler(samplers, weights), _interleaved(validation)


def _interleaved(lists: Sequence[Sequence[Episode]]) -> list[Episode]:
    """One episode of each list in turn, so that any first n of the result cover every
    task alike (training scores the first `eval_episodes` held-out episodes)."""
    longest = max((len(episodes) for episodes in lists), default=0)
    return [episodes[i] for i in range(longest) for episodes in lists if i < len(episodes)]


def _task_weights(tasks: Sequence[str], given: Mapping[str, float]) -> list[float]:
    """Each task's weight (1 unless `given` names it). A weight for a task of no
    benchmark (a typo) or one that is not a positive number is an error; weights of
    known tasks that are not trained are unused, so that one table of weights serves
    every environment's task list."""
    known = {*BABI_TASKS, *NIAH_TASKS, HOTPOTQA_TASK}
    stray = sorted(set(given) - known)
    bad = {t: w for t, w in given.items() if not (is_finite_number(w) and w > 0)}
    if stray or bad:
        raise QragInputError(
            f"train_q.task_weights has weights for unknown tasks {stray} or weights "
            f"that are not positive numbers {bad}. Fix: give positive weights to tasks "
            f"among {sorted(known)}."
        )
    return [float(given.get(task, 1.0)) for task in tasks]


def babilong_training_data(
    samples: Sequence[BabiSample],
    documents: Mapping[str, Sequence[str]],
    tasks: Sequence[str],
    lengths: LengthRange | int,
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
    lengths = LengthRange.of(lengths)
    train = [s for found in by_task.values() for s in found[:-validation_questions]]
    held = {task: found[-validation_questions:] for task, found in by_task.items()}
    unfit = [t for t, found in held.items() if all(len(s.facts) > lengths.longest for s in found)]
    if unfit:
        raise QragInputError(
            f"no held-out training question of tasks {unfit} has a story that fits in "
            f"train_q.train_sentences={lengths.longest} sentences. Fix: raise "
            "train_q.train_sentences, or raise train_q.validation_questions so that "
            "more stories are held out."
        )
    validation = build_babilong_episodes(
        held,
        documents,
        [TRAINING_LENGTH],
        validation_questions,
        seed,
        {TRAINING_LENGTH: lengths.longest},
    )
    return babilong_sampler(train, documents, lengths), validation


def niah_training_data(
    tasks: Sequence[str],
    documents: Mapping[str, Sequence[str]],
    lengths: LengthRange | int,
    validation_questions: int,
    seed: int,
) -> tuple[EpisodeSampler, list[Episode]]:
    """NIAH's sampler and validation episodes: both generated, with different seeds, so
    the validation keys and values asked about are not ones the learner trained on;
    a needle haystack's distractor needles come from the training pool in both."""
    lengths = LengthRange.of(lengths)
    validation = build_niah_episodes(
        tasks,
        documents,
        [TRAINING_LENGTH],
        validation_questions,
        derive_seed(seed, "niah-validation"),
        {TRAINING_LENGTH: lengths.longest},
        training_fillers=True,
    )
    return niah_sampler(tasks, documents, lengths), validation


def hotpotqa_training_data(
    episodes: Sequence[Episode], validation_questions: int, mix_chunks: int = 0
) -> tuple[EpisodeSampler, list[Episode]]:
    """HotpotQA's sampler over its training episodes (each draw a fresh mix with up to
    `mix_chunks` other chunks, see `hotpotqa_sampler`), the last `validation_questions`
    of them held out, unmixed, for the validation curve."""
    if len(episodes) <= validation_questions:
        raise QragInputError(
            f"train_q.tasks lists hotpotqa but there are only {len(episodes)} HotpotQA "
            f"training episodes (needs more than validation_questions="
            f"{validation_questions}). Fix: add hotpotqa to data_prep.benchmarks and "
            "give it training questions (data_prep.hotpotqa.train_questions)."
        )
    return hotpotqa_sampler(list(episodes[:-validation_questions]), mix_chunks), list(
        episodes[-validation_questions:]
    )


def training_pool_texts(
    babi_samples: Iterable[BabiSample],
    documents: Mapping[str, Sequence[str]],
    hotpotqa_episodes: Iterable[Episode] = (),
) -> list[str]:
    """Every distinct text a training episode's chunks are drawn from, in a fixed order.

    Distractor sentences (BabiLong's background and NIAH's essay haystack), NIAH's
    noise sentences and needle-haystack fillers, story facts and the HotpotQA training
    paragraphs (the largest and most stable part first): embedded once by a frozen
    action encoder, they spare training the encoding of each new document. Only the
    needles a NIAH question asks about (fresh keys and values at every reset) are not
    here.
    """
    return list(
        dict.fromkeys(
            chain(
                (sentence for name in sorted(documents) for sentence in documents[name]),
                NOISE_SENTENCES,
                training_filler_texts(),
                (fact for sample in babi_samples for fact in sample.facts),
                (chunk for episode in hotpotqa_episodes for chunk in episode.chunks),
            )
        )
    )


def mixed_sampler(samplers: Sequence[EpisodeSampler], weights: Sequence[float]) -> EpisodeSampler:
    """One sampler that draws from `samplers[i]` with probability proportional to
    `weights[i]`, every draw from the caller's generator (so a run stays seeded)."""
    if len(samplers) == 1:
        return samplers[0]
    probabilities = np.asarray(weights, dtype=float) / sum(weights)

    def sample_episode(rng: np.random.Generator) -> Episode:
        return samplers[int(rng.choice(len(samplers), p=probabilities))](rng)

    return sample_episode
