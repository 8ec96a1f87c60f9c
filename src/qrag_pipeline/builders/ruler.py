"""RULER needle-in-a-haystack episodes, generated offline at any length.

As in RULER (Hsieh et al. 2024), a needle is one sentence giving one of the "special
magic" values of a key; needles go at random sentence boundaries of a haystack (a
repeated trivial paragraph, essay text, or other needles) and the question asks for
all the values of one or more keys. Generating the episodes here, rather than
downloading RULER's prompts, keeps the needles' chunk indices, which the retriever is
trained and scored on, and reaches any length (1M tokens and more). One chunk is one
sentence; the eight tasks are those of docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from qrag_pipeline.builders.babilong import (
    DEFAULT_LENGTH_BUCKETS,
    DistractorStream,
    bucket_size,
    hide_facts,
)
from qrag_pipeline.builders.lengths import LengthRange
from qrag_pipeline.episodes import Episode, EpisodeSampler, approx_token_count
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.metrics import NIAH_ANSWER_SEPARATOR
from qrag_pipeline.seeding import rng_for

Haystack = Literal["noise", "essay", "needle"]
KeyType = Literal["words", "uuids"]
ValueType = Literal["numbers", "uuids"]


@dataclass(frozen=True)
class NiahTask:
    """One RULER task: what the haystack is made of and how many needles it hides.

    `n_keys` keys are inserted with `n_values` needles each; the first `n_queries` of
    them are asked, the others are distractors. A `needle` haystack adds, besides,
    as many distractor needles (with other keys) as the length needs.
    """

    haystack: Haystack
    key_type: KeyType
    value_type: ValueType
    n_keys: int
    n_values: int
    n_queries: int

    @property
    def n_needles(self) -> int:
        """Needles of the inserted keys (a `needle` haystack's filler not counted)."""
        return self.n_keys * self.n_values


NIAH_TASKS: dict[str, NiahTask] = {
    "niah_single_1": NiahTask("noise", "words", "numbers", 1, 1, 1),
    "niah_single_2": NiahTask("essay", "words", "numbers", 1, 1, 1),
    "niah_single_3": NiahTask("essay", "words", "uuids", 1, 1, 1),
    "niah_multikey_1": NiahTask("essay", "words", "numbers", 4, 1, 1),
    "niah_multikey_2": NiahTask("needle", "words", "numbers", 1, 1, 1),
    "niah_multikey_3": NiahTask("needle", "uuids", "uuids", 1, 1, 1),
    "niah_multivalue": NiahTask("essay", "words", "numbers", 1, 4, 1),
    "niah_multiquery": NiahTask("essay", "words", "numbers", 4, 1, 4),
}

# Version-4 UUID bits (RFC 4122): byte 6 starts with the version nibble 4, byte 8 with
# the variant bits 10; the other bits stay random.
_UUID4_KEEP = np.array([0xFF] * 6 + [0x0F, 0xFF, 0x3F] + [0xFF] * 7, dtype=np.uint8)
_UUID4_SET = np.array([0] * 6 + [0x40, 0, 0x80] + [0] * 7, dtype=np.uint8)

NOISE_SENTENCES = (
    "The grass is green.",
    "The sky is blue.",
    "The sun is yellow.",
    "Here we go.",
    "There and back again.",
)

# Word keys are adjective-noun pairs; the lists are long enough (about 65,000 pairs)
# that a 1M-bucket needle haystack (40,000 sentences) gets a distinct key per needle.
ADJECTIVES = (
    "able",
    "agile",
    "amber",
    "ample",
    "ancient",
    "angry",
    "arctic",
    "ashen",
    "awake",
    "bald",
    "bare",
    "basic",
    "bitter",
    "black",
    "bland",
    "blank",
    "bleak",
    "blind",
    "blond",
    "blue",
    "blunt",
    "bold",
    "bony",
    "bored",
    "brave",
    "brief",
    "bright",
    "brisk",
    "broad",
    "broken",
    "brown",
    "bumpy",
    "busy",
    "calm",
    "candid",
    "careful",
    "casual",
    "cheap",
    "cheerful",
    "chilly",
    "civil",
    "clean",
    "clear",
    "clever",
    "close",
    "cloudy",
    "clumsy",
    "coarse",
    "cold",
    "cozy",
    "crisp",
    "cruel",
    "curly",
    "curved",
    "damp",
    "dark",
    "dear",
    "deep",
    "dense",
    "dim",
    "dirty",
    "dizzy",
    "dry",
    "dull",
    "dusty",
    "eager",
    "early",
    "easy",
    "elder",
    "empty",
    "equal",
    "even",
    "exact",
    "faint",
    "fair",
    "false",
    "famous",
    "fancy",
    "far",
    "fast",
    "fierce",
    "fine",
    "firm",
    "flat",
    "fluffy",
    "fond",
    "foggy",
    "formal",
    "free",
    "fresh",
    "frozen",
    "full",
    "funny",
    "fuzzy",
    "gentle",
    "giant",
    "gifted",
    "glad",
    "glossy",
    "golden",
    "grand",
    "gray",
    "great",
    "green",
    "grim",
    "gritty",
    "happy",
    "hard",
    "harsh",
    "hasty",
    "heavy",
    "hidden",
    "high",
    "hollow",
    "honest",
    "hot",
    "huge",
    "humble",
    "hungry",
    "icy",
    "idle",
    "jolly",
    "juicy",
    "keen",
    "kind",
    "large",
    "late",
    "lazy",
    "lean",
    "level",
    "light",
    "little",
    "lively",
    "lonely",
    "long",
    "loose",
    "loud",
    "lovely",
    "low",
    "loyal",
    "lucky",
    "major",
    "mellow",
    "merry",
    "mild",
    "minor",
    "misty",
    "modern",
    "modest",
    "moist",
    "muddy",
    "narrow",
    "neat",
    "nervous",
    "new",
    "nice",
    "nimble",
    "noble",
    "noisy",
    "odd",
    "old",
    "open",
    "orange",
    "pale",
    "patient",
    "plain",
    "plump",
    "polite",
    "poor",
    "proud",
    "pure",
    "purple",
    "quick",
    "quiet",
    "rapid",
    "rare",
    "raw",
    "ready",
    "real",
    "red",
    "rich",
    "rigid",
    "ripe",
    "rough",
    "round",
    "royal",
    "rude",
    "rusty",
    "sad",
    "safe",
    "salty",
    "sandy",
    "scarlet",
    "secret",
    "sharp",
    "shiny",
    "short",
    "shy",
    "silent",
    "silky",
    "silver",
    "simple",
    "sleepy",
    "slim",
    "slow",
    "small",
    "smart",
    "smooth",
    "snowy",
    "soft",
    "solid",
    "sour",
    "spare",
    "spicy",
    "stale",
    "steady",
    "steep",
    "stiff",
    "still",
    "stormy",
    "strange",
    "strict",
    "strong",
    "sturdy",
    "subtle",
    "sunny",
    "sweet",
    "swift",
    "tall",
    "tame",
    "tender",
    "thick",
    "thin",
    "tidy",
    "tiny",
    "tough",
    "true",
    "urban",
    "vague",
    "vast",
    "velvet",
    "violet",
    "vivid",
    "warm",
    "wary",
    "weak",
    "wet",
    "white",
    "wide",
    "wild",
    "windy",
    "wise",
    "witty",
    "wooden",
    "woolly",
    "young",
    "zesty",
)
NOUNS = (
    "acorn",
    "anchor",
    "anvil",
    "apple",
    "apron",
    "arch",
    "arrow",
    "attic",
    "badge",
    "bagel",
    "ball",
    "banjo",
    "banner",
    "barn",
    "basket",
    "beacon",
    "beaver",
    "bell",
    "bench",
    "berry",
    "bicycle",
    "blanket",
    "boat",
    "bonnet",
    "book",
    "bottle",
    "boulder",
    "bowl",
    "box",
    "branch",
    "bread",
    "brick",
    "bridge",
    "brook",
    "broom",
    "bubble",
    "bucket",
    "button",
    "cabin",
    "cactus",
    "camel",
    "candle",
    "canoe",
    "canyon",
    "carpet",
    "carrot",
    "castle",
    "cedar",
    "chair",
    "cherry",
    "chimney",
    "circle",
    "cliff",
    "cloak",
    "clock",
    "cloud",
    "clover",
    "coin",
    "comet",
    "compass",
    "copper",
    "cotton",
    "crane",
    "crayon",
    "crown",
    "cup",
    "curtain",
    "daisy",
    "desert",
    "diamond",
    "dolphin",
    "door",
    "dragon",
    "drum",
    "eagle",
    "engine",
    "falcon",
    "feather",
    "fence",
    "fern",
    "fiddle",
    "field",
    "flag",
    "flute",
    "forest",
    "fountain",
    "garden",
    "garnet",
    "glacier",
    "glove",
    "goblet",
    "goose",
    "granite",
    "grape",
    "guitar",
    "hammer",
    "harbor",
    "harp",
    "hat",
    "helmet",
    "hill",
    "honey",
    "horizon",
    "horse",
    "island",
    "ivory",
    "jacket",
    "jar",
    "jewel",
    "kettle",
    "kite",
    "ladder",
    "lake",
    "lamp",
    "lantern",
    "lemon",
    "lily",
    "lion",
    "lizard",
    "locket",
    "magnet",
    "maple",
    "marble",
    "meadow",
    "mirror",
    "mitten",
    "moon",
    "mountain",
    "nest",
    "oak",
    "ocean",
    "olive",
    "orchard",
    "otter",
    "owl",
    "paddle",
    "palace",
    "panda",
    "parrot",
    "pebble",
    "pencil",
    "pepper",
    "piano",
    "pillow",
    "pine",
    "planet",
    "plum",
    "pocket",
    "pond",
    "poppy",
    "puzzle",
    "quilt",
    "rabbit",
    "raven",
    "ribbon",
    "river",
    "robin",
    "rocket",
    "rose",
    "saddle",
    "sail",
    "salmon",
    "sandal",
    "scarf",
    "shell",
    "shield",
    "ship",
    "shovel",
    "sparrow",
    "spoon",
    "spruce",
    "star",
    "statue",
    "stone",
    "storm",
    "stream",
    "sugar",
    "summit",
    "swan",
    "sword",
    "table",
    "teapot",
    "temple",
    "thimble",
    "thistle",
    "thunder",
    "tiger",
    "timber",
    "tower",
    "trumpet",
    "tulip",
    "tunnel",
    "turtle",
    "umbrella",
    "valley",
    "vase",
    "violin",
    "wagon",
    "walnut",
    "whale",
    "wheel",
    "whistle",
    "willow",
    "window",
    "wizard",
    "wolf",
    "yacht",
    "zebra",
    "badger",
    "bamboo",
    "barrel",
    "beetle",
    "biscuit",
    "blossom",
    "bonfire",
    "buckle",
    "cabbage",
    "candy",
    "cannon",
    "cart",
    "cathedral",
    "cellar",
    "chapel",
    "cinnamon",
    "cobweb",
    "coral",
    "cradle",
    "cricket",
    "dagger",
    "dune",
    "ember",
    "fossil",
    "galaxy",
    "gazelle",
    "harvest",
    "hedge",
    "heron",
    "jungle",
    "kernel",
    "lagoon",
    "lobster",
    "meteor",
    "moth",
    "muffin",
    "nugget",
    "oyster",
    "pasture",
    "pearl",
    "penguin",
    "pumpkin",
    "quarry",
    "reef",
    "sapphire",
    "scroll",
)


def check_niah_task(name: str) -> NiahTask:
    """The task called `name`, or an error listing the eight known ones."""
    if name not in NIAH_TASKS:
        raise QragInputError(
            f"unknown RULER task {name!r}. Fix: use one of {list(NIAH_TASKS)} in data_prep.ruler.tasks."
        )
    return NIAH_TASKS[name]


def build_niah_episode(
    task: str,
    n_sentences: int,
    essay: DistractorStream | None,
    rng: np.random.Generator,
    episode_id: str,
    length_bucket: str,
    filler_pool: Sequence[tuple[str, str]] | None = None,
) -> Episode:
    """One episode of exactly `n_sentences` chunks, fresh keys and values from `rng`.

    Keys are drawn together (inserted first, then the needle haystack's), and so are
    values, so that no two needles of a document share a key or a value: a distractor
    can then never answer, or seem to answer, the question. With a `filler_pool` of
    (key, value) pairs, a needle haystack is a window of that pool instead (training:
    its needles are embedded once), and the inserted keys and values are drawn again
    until none of the window's shares them.
    """
    spec = _check_length(task, n_sentences)
    n_filler = n_sentences - spec.n_needles if spec.haystack == "needle" else 0
    pooled = spec.haystack == "needle" and filler_pool is not None
    if pooled:
        filler = _pool_window(filler_pool, n_filler, rng)
        keys, values = _draw_apart(spec, filler, rng)
    else:
        keys = _draw_keys(spec.key_type, spec.n_keys + n_filler, rng)
        values = _draw_values(spec.value_type, spec.n_needles + n_filler, rng)
        filler = list(zip(keys[spec.n_keys :], values[spec.n_needles :], strict=True))
    inserted = [(keys[i // spec.n_values], values[i]) for i in range(spec.n_needles)]
    inserted = [inserted[i] for i in rng.permutation(len(inserted))]
    if spec.haystack == "needle":
        haystack = [_needle(spec.value_type, key, value) for key, value in filler]
    else:
        haystack = _prose_haystack(task, spec, n_sentences - spec.n_needles, essay, rng)
    needles = [_needle(spec.value_type, key, value) for key, value in inserted]
    chunks, positions = hide_facts(needles, haystack, rng)
    asked = keys[: spec.n_queries]
    gold = [(p, value) for p, (key, value) in zip(positions, inserted, strict=True) if key in asked]
    return Episode(
        id=episode_id,
        benchmark="ruler",
        task=task,
        length_bucket=length_bucket,
        question=_question(spec.value_type, asked),
        answer=NIAH_ANSWER_SEPARATOR.join(value for _, value in gold),
        chunks=chunks,
        support=[p for p, _ in gold],
        n_tokens=approx_token_count(chunks),
    )


def build_niah_episodes(
    tasks: Sequence[str],
    essay_documents: Mapping[str, Sequence[str]] | None,
    lengths: Sequence[str],
    episodes_per_task_length: int,
    seed: int,
    buckets: Mapping[str, int] = DEFAULT_LENGTH_BUCKETS,
    training_fillers: bool = False,
) -> list[Episode]:
    """Evaluation episodes for every task and length bucket, deterministic in `seed`.

    Every episode has its own random stream (task, bucket, index), so adding a task,
    a length or more episodes leaves the other episodes as they were. With
    `training_fillers` a needle haystack's distractor needles come from the training
    pool (`training_filler`), as in training: validation episodes whose only unseen
    sentences are the needles asked about, so their chunks need no fresh encoding.
    """
    if episodes_per_task_length < 1:
        raise QragInputError(
            f"episodes_per_task_length is {episodes_per_task_length}. Fix: set "
            "data_prep.ruler.episodes_per_task_length to a positive whole number."
        )
    sizes = {bucket: bucket_size(bucket, buckets) for bucket in lengths}
    essay = _essay_stream(tasks, essay_documents)
    for task in tasks:
        for size in sizes.values():
            _check_length(task, size)
    fillers = _training_fillers(tasks) if training_fillers else {}
    return [
        build_niah_episode(
            task,
            size,
            essay,
            rng_for(seed, "niah", task, bucket, index),
            f"ruler-{task}-{bucket}-{index}",
            bucket,
            fillers.get(task),
        )
        for task in tasks
        for bucket, size in sizes.items()
        for index in range(episodes_per_task_length)
    ]


def niah_sampler(
    tasks: Sequence[str],
    essay_documents: Mapping[str, Sequence[str]] | None,
    lengths: LengthRange | int,
) -> EpisodeSampler:
    """Training episodes made on the fly: a random task and length (within `lengths`),
    fresh haystack, keys, values.

    Each call draws everything from the caller's generator, so the agent never sees
    the same document twice and the stream of episodes is fixed by the environment's
    seed; only a needle haystack's distractor needles come from a fixed pool
    (`training_filler`), so that they are embedded once rather than at every reset.
    Inputs are checked here, once, rather than at the first reset.
    """
    if not tasks:
        raise QragInputError(f"no RULER training task is given. Fix: name one or more of {list(NIAH_TASKS)}.")
    lengths = LengthRange.of(lengths)
    essay = _essay_stream(tasks, essay_documents)
    for task in tasks:
        _check_length(task, lengths.longest)
    chosen = list(tasks)
    fillers = _training_fillers(chosen)

    def sample_episode(rng: np.random.Generator) -> Episode:
        task = chosen[int(rng.integers(len(chosen)))]
        episode_id = f"ruler-{task}-train"
        n_sentences = lengths.draw(rng, at_least=NIAH_TASKS[task].n_needles)
        return build_niah_episode(task, n_sentences, essay, rng, episode_id, "train", fillers.get(task))

    return sample_episode


TRAINING_FILLER_NEEDLES = 1000
"""Distractor needles in each needle-haystack task's training pool."""


@cache
def training_filler(task: str) -> tuple[tuple[str, str], ...]:
    """The fixed (key, value) pairs a needle-haystack task's training documents draw
    their distractor needles from: `TRAINING_FILLER_NEEDLES` of them, the same for
    every run (so the embed stage embeds their sentences once, `training_filler_texts`),
    with keys and values of the task's kinds and no key or value twice."""
    spec = check_niah_task(task)
    rng = rng_for(0, "niah-training-filler", task)
    keys = _draw_keys(spec.key_type, TRAINING_FILLER_NEEDLES, rng)
    values = _draw_values(spec.value_type, TRAINING_FILLER_NEEDLES, rng)
    return tuple(zip(keys, values, strict=True))


def _training_fillers(tasks: Sequence[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The training filler of each needle-haystack task among `tasks`."""
    return {task: training_filler(task) for task in tasks if NIAH_TASKS[task].haystack == "needle"}


def training_filler_texts() -> list[str]:
    """The sentences of every needle-haystack task's training filler."""
    return [
        _needle(spec.value_type, key, value)
        for task, spec in NIAH_TASKS.items()
        if spec.haystack == "needle"
        for key, value in training_filler(task)
    ]


def _check_length(task: str, n_sentences: int) -> NiahTask:
    """The task's spec, if its needles fit in `n_sentences`; an error otherwise."""
    spec = check_niah_task(task)
    if n_sentences < spec.n_needles:
        raise QragInputError(
            f"task {task} hides {spec.n_needles} needle sentences, more than a "
            f"document of {n_sentences} sentences holds. Fix: use a longer length "
            "bucket for this task."
        )
    return spec


def _essay_stream(
    tasks: Sequence[str], essay_documents: Mapping[str, Sequence[str]] | None
) -> DistractorStream | None:
    """The essay haystack's stream, or None; an error if an essay task has no text."""
    if essay_documents is not None:
        return DistractorStream(essay_documents)
    for task in tasks:
        if check_niah_task(task).haystack == "essay":
            raise _missing_essay(task)
    return None


def _missing_essay(task: str) -> QragInputError:
    """The one message for an essay-haystack task built without essay text."""
    return QragInputError(
        f"task {task} hides its needles in essay text, but no essay documents were "
        "given. Fix: give a books folder or the built-in prose (source: prose) as "
        "the RULER essay source, or drop the essay tasks."
    )


def _prose_haystack(
    task: str,
    spec: NiahTask,
    size: int,
    essay: DistractorStream | None,
    rng: np.random.Generator,
) -> list[str]:
    """`size` sentences of the noise paragraph (from its start) or of essay text."""
    if spec.haystack == "noise":
        return [NOISE_SENTENCES[i % len(NOISE_SENTENCES)] for i in range(size)]
    if essay is None:
        raise _missing_essay(task)
    return essay.window(size, rng)


def _pool_window(pool: Sequence[tuple[str, str]], n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """`n` consecutive pairs of `pool` from a random start (wrapping around)."""
    start = int(rng.integers(len(pool)))
    return [pool[(start + i) % len(pool)] for i in range(n)]


def _draw_apart(
    spec: NiahTask, filler: Sequence[tuple[str, str]], rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    """Keys and values for the inserted needles that no filler needle shares."""
    taken_keys = {key for key, _ in filler}
    taken_values = {value for _, value in filler}
    while True:
        keys = _draw_keys(spec.key_type, spec.n_keys, rng)
        values = _draw_values(spec.value_type, spec.n_needles, rng)
        if taken_keys.isdisjoint(keys) and taken_values.isdisjoint(values):
            return keys, values


def _draw_keys(key_type: KeyType, n: int, rng: np.random.Generator) -> list[str]:
    """`n` distinct keys: adjective-noun pairs or UUIDs."""
    if key_type == "uuids":
        return _draw_uuids(n, rng)
    n_pairs = len(ADJECTIVES) * len(NOUNS)
    if n > n_pairs:
        raise QragInputError(
            f"{n} distinct word keys are needed but only {n_pairs} adjective-noun "
            "pairs exist. Fix: use a shorter length bucket for the needle-haystack "
            "task with word keys (niah_multikey_2), or its uuid form (niah_multikey_3)."
        )
    picks = rng.choice(n_pairs, size=n, replace=False)
    return [f"{ADJECTIVES[i // len(NOUNS)]}-{NOUNS[i % len(NOUNS)]}" for i in picks]


def _draw_values(value_type: ValueType, n: int, rng: np.random.Generator) -> list[str]:
    """`n` distinct values: 7-digit numbers or UUIDs."""
    if value_type == "uuids":
        return _draw_uuids(n, rng)
    return [str(v) for v in 1_000_000 + rng.choice(9_000_000, size=n, replace=False)]


def _draw_uuids(n: int, rng: np.random.Generator) -> list[str]:
    """`n` distinct version-4 UUIDs made from `rng`'s bytes (never from the OS).

    The bytes are masked and formatted in bulk: building `uuid.UUID` objects one by
    one is the slowest step of a 1M-bucket uuid episode (80,000 UUIDs).
    """
    found: dict[str, None] = {}
    while len(found) < n:
        raw = np.frombuffer(rng.bytes(16 * (n - len(found))), dtype=np.uint8)
        digits = (raw.reshape(-1, 16) & _UUID4_KEEP | _UUID4_SET).tobytes().hex()
        for s in range(0, len(digits), 32):
            h = digits[s : s + 32]
            found[f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"] = None
    return list(found)


def _needle(value_type: ValueType, key: str, value: str) -> str:
    """The needle sentence, worded as in RULER."""
    return f"One of the special magic {value_type} for {key} is: {value}."


def _question(value_type: ValueType, keys: Sequence[str]) -> str:
    """The question for one key, or for several ("a, b, c and d")."""
    named = keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} and {keys[-1]}"
    return f"What are all the special magic {value_type} for {named} mentioned in the provided text?"
