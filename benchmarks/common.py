"""What the benchmarks share: their parameters (conf/base's, each benchmark's own
conf/bench_<name> environment and --params over them, read by Kedro's config loader),
a checkpoint (loaded, or trained by the train_q stage's entry point), every method
evaluated by the evaluate stage's entry point on the same episodes, and the record of
the run (machine, command, data) written next to the figures.

`--params KEY=VALUE ...` reads each item as `kedro run --params` does: a dotted key
into the conf parameters, a YAML value (`train_q.learning.total_updates=80
train_q.learning.learning_rate=1e-4 "train_q.train_sentences=[50, 250]"`), one item
per argument so that a value may hold commas, passed to the loader as runtime
parameters. A key conf lacks is an error naming it, and the parameters get the
pipeline's checks (`check_parameters`)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import OmegaConf

from qrag_pipeline import evaluation
from qrag_pipeline.checkpoints import load_checkpoint, save_checkpoint
from qrag_pipeline.devices import resolve_device
from qrag_pipeline.episodes import Episode, episodes_from_frame, episodes_to_frame
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.encoder import TextEncoder
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.parameters import RULES, check_parameters
from qrag_pipeline.pipelines.data_prep.nodes import (
    build_babilong_eval_episodes,
    build_ruler_eval_episodes,
    load_babi_stories,
    load_distractor_sentences,
)
from qrag_pipeline.pipelines.embed.nodes import embed_chunks_with_pretrained_encoder, embed_training_pools
from qrag_pipeline.pools import documents_from_frame, documents_to_frame, samples_from_frame, samples_to_frame
from qrag_pipeline.retrieval.embeddings import (
    EpisodeEmbeddings,
)
from qrag_pipeline.rl.learner import QLearner
from qrag_pipeline.rl.ranks import Ranks
from qrag_pipeline.sources.babi_files import BABI_TASKS
from qrag_pipeline.training import (
    TrainingResult,
    reads_pool_embeddings,
    run_training,
    training_inputs,
    used_pool_embeddings,
)
from qrag_pipeline.training_data import TrainingPools

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "cache"
"""The benchmarks' embed.cache_dir (git-ignored): the embed stage keeps every finished
shard of texts there, so a benchmark run on the same pools or episodes reads them."""


def conf_parameters(env: str = "base", runtime: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The project's parameters as `kedro run --env ENV --params ...` reads them: Kedro's
    OmegaConfigLoader over conf/base and conf/<env>, with `runtime` (nested, as Kedro's
    command line turns --params into) as its runtime parameters."""
    from kedro.config import OmegaConfigLoader

    from qrag_pipeline.settings import CONFIG_LOADER_ARGS

    settings = {key: value for key, value in CONFIG_LOADER_ARGS.items() if key != "default_run_env"}
    loader = OmegaConfigLoader(
        conf_source=str(ROOT / "conf"), env=env, runtime_params=dict(runtime or {}), **settings
    )
    return loader["parameters"]


def add_params_argument(parser: argparse.ArgumentParser) -> None:
    """--params KEY=VALUE ...: parameters over conf/base's and the benchmark's defaults."""
    parser.add_argument(
        "--params",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="parameters over conf/base's and the benchmark's conf/bench_<name>, as kedro "
        "run --params: dotted keys, YAML values, e.g. train_q.learning.total_updates=80",
    )


def benchmark_parameters(env: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """conf/base with the benchmark's environment `env` (conf/bench_<name>: its
    defaults) over it and `values` ({dotted key: value}: --params, and what the
    benchmark's own options set) as Kedro's runtime parameters, embed.cache_dir being
    CACHE unless they say otherwise. A dotted key that names
    no parameter is an error naming it (Kedro would add it silently)."""
    known = conf_parameters(env)
    runtime: dict[str, Any] = {}
    for key, value in {"embed.cache_dir": str(CACHE), **values}.items():
        runtime = _merged(runtime, _nested(_checked_key(known, key), value))
    return conf_parameters(env, runtime)


def set_parameters(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    env: str,
    values: Mapping[str, Any] | None = None,
) -> argparse.Namespace:
    """`args` with `parameters`: `benchmark_parameters` of `env` with `values` (dotted
    keys the benchmark's options set) and --params over them, checked as `kedro run`
    checks them (`check_parameters`); a bad --params item is a usage error naming it."""
    try:
        args.parameters = benchmark_parameters(env, {**(values or {}), **dotted_values(args.params)})
        check_parameters(args.parameters)
    except QragInputError as error:
        parser.error(str(error))
    return args


def dotted_values(items: Sequence[str]) -> dict[str, Any]:
    """--params KEY=VALUE items as {dotted key: value}, each value read as `kedro run
    --params` reads it (OmegaConf's YAML, where 1e-4 is a number)."""
    values = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise QragInputError(
                f"--params item {item!r} is not KEY=VALUE. Fix: write a dotted key, '=' "
                "and a value, e.g. train_q.learning.total_updates=80."
            )
        values[key.strip()] = OmegaConf.to_container(OmegaConf.from_dotlist([f"value={value}"]))["value"]
    return values


def _checked_key(parameters: Mapping[str, Any], key: str) -> list[str]:
    """The parts of dotted `key`, each checked to name a parameter of the one before,
    but in a mapping whose keys are data (`RULES` has `<mapping>.*`: task weights,
    length buckets), where any key is one."""
    parts = key.split(".")
    level: Any = parameters
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth])
        if f"{where}.*" in RULES:
            break
        if not isinstance(level, Mapping) or part not in level:
            known = sorted(level) if isinstance(level, Mapping) else []
            raise QragInputError(
                f"--params {key}: {where or 'conf/base'} has no parameter {part!r} (it has "
                f"{known}). Fix: use a key of conf/base/parameters_*.yml."
            )
        level = level[part]
    return parts


def _nested(parts: Sequence[str], value: Any) -> dict[str, Any]:
    """{parts[0]: {parts[1]: ... value}}."""
    for part in reversed(parts):
        value = {part: value}
    return value


def _merged(base: Any, override: Any) -> Any:
    """`override` merged into `base`: mappings key by key, any other value replaces (as
    Kedro merges runtime parameters into conf's)."""
    if not (isinstance(base, Mapping) and isinstance(override, Mapping)):
        return override
    return {**base, **{key: _merged(base.get(key), value) for key, value in override.items()}}


def seed_of(parameters: Mapping[str, Any]) -> int:
    """The run's seed (train_q.learning.seed): of the learner, and of every episode a
    benchmark builds."""
    return parameters["train_q"]["learning"]["seed"]


def official_stories(shared: Path) -> dict[str, Any]:
    """data_prep.stories for the official bAbI files in `shared` (en-10k, and en/ for
    the tasks en-10k lacks)."""
    return {"source": "babi_files", "babi_dirs": [str(shared / "babi" / d) for d in ("en-10k", "en")]}


def training_stories(parameters: Mapping[str, Any], shared: Path) -> dict[str, Any]:
    """data_prep.stories with the bAbI folders of `shared`: the training stories of
    its source (the generator, or the official files)."""
    return {**parameters["data_prep"]["stories"], "babi_dirs": official_stories(shared)["babi_dirs"]}


def training_distractors(parameters: Mapping[str, Any], shared: Path) -> dict[str, Any]:
    """data_prep.distractors with the book folders of `shared`."""
    books = {f"{split}_books_dir": str(shared / "books" / split) for split in ("train", "test")}
    return {**parameters["data_prep"]["distractors"], **books}


def training_pools(parameters: Mapping[str, Any], shared: Path) -> TrainingPools:
    """The training pools as the data_prep stage builds them (its node functions): the
    training stories (data_prep.stories) of every bAbI task in train_q.tasks (NIAH
    episodes are generated during training) and the training distractors
    (data_prep.distractors), the real data read from `shared`."""
    seed = seed_of(parameters)
    tasks = [task for task in parameters["train_q"]["tasks"] if task in BABI_TASKS]
    stories, _ = load_babi_stories(training_stories(parameters, shared), tasks, seed)
    distractors, _ = load_distractor_sentences(training_distractors(parameters, shared), seed)
    return TrainingPools(samples_from_frame(stories), documents_from_frame(distractors))


THIRTEEN = "thirteen"
"""A learner benchmark's `--task thirteen`: conf/base's one model (its thirteen tasks,
generated stories and document lengths) on one_model.py's book distractors
(`THIRTEEN_ENV`), instead of one bAbI task's official stories."""
THIRTEEN_ENV = "bench_one_model"


def add_task_argument(parser: argparse.ArgumentParser) -> None:
    """A learner benchmark's --task: one bAbI task (default qa2), or `THIRTEEN`."""
    parser.add_argument(
        "--task",
        default="qa2",
        choices=[*BABI_TASKS, THIRTEEN],
        help=f"the training task; {THIRTEEN}: conf/base's thirteen tasks",
    )


def evaluation_episodes(
    parameters: Mapping[str, Any],
    shared: Path,
    babilong: Mapping[str, int] | None = None,
    ruler: Mapping[str, int] | None = None,
    babilong_tasks: Callable[[str], Sequence[str]] | None = None,
) -> list[Episode]:
    """Evaluation episodes as the data_prep stage builds them (its node functions), on
    the real data in `shared`: the official bAbI test stories of each length's tasks
    (`babilong_tasks(length)`, default data_prep.babilong.tasks; `babilong`: questions
    per task at each length) and the NIAH tasks of data_prep.ruler (`ruler`: episodes
    per task at each length), hidden in the unseen test books. Seeded by the run's seed
    (`seed_of`), so every benchmark's episodes are fixed by its parameters."""
    seed, data_prep = seed_of(parameters), parameters["data_prep"]
    babilong, ruler = babilong or {}, ruler or {}
    tasks_at = babilong_tasks or (lambda _length: data_prep["babilong"]["tasks"])
    every_task = sorted({task for length in babilong for task in tasks_at(length)})
    _, test_stories = load_babi_stories(official_stories(shared), every_task, seed)
    books = {**training_distractors(parameters, shared), "source": "books"}
    _, test_books = load_distractor_sentences(books, seed)
    frames = [
        build_babilong_eval_episodes(
            test_stories,
            test_books,
            {
                **data_prep["babilong"],
                "tasks": list(tasks_at(length)),
                "eval_lengths": [length],
                "episodes_per_task_length": n,
                "episodes_from": "rebuilt",
            },
            ["babilong"],
            seed,
        )
        for length, n in babilong.items()
    ]
    frames += [
        build_ruler_eval_episodes(
            test_books,
            {**data_prep["ruler"], "eval_lengths": [length], "episodes_per_task_length": n},
            ["ruler"],
            seed,
        )
        for length, n in ruler.items()
    ]
    return [episode for frame in frames for episode in episodes_from_frame(frame)]


def embed_stage_encoder(parameters: Mapping[str, Any]) -> TextEncoder:
    """The embed stage's pretrained encoder (embed.encoder): it embeds the training pools
    and the evaluation chunks, as in the pipeline."""
    return TextEncoder.from_pretrained(**parameters["embed"]["encoder"]).to(resolve_device("auto"))


def episode_embeddings(parameters: Mapping[str, Any], episodes: Sequence[Episode]) -> EpisodeEmbeddings:
    """`episodes`' chunks embedded by the embed stage's node (`embed` parameters; its
    shards kept in and read from embed.cache_dir, CACHE for the benchmarks)."""
    return embed_chunks_with_pretrained_encoder(episodes_to_frame(episodes), parameters["embed"])


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every evaluation benchmark takes: --checkpoint and `add_run_arguments`."""
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a train_q checkpoint folder; else train one"
    )
    add_run_arguments(parser)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes: the data folder, the result file, --params."""
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    add_params_argument(parser)


def add_length_arguments(parser: argparse.ArgumentParser, episodes: Mapping[str, int]) -> None:
    """--lengths and --episodes LENGTH=N, defaulting to `episodes` (questions per task)."""
    parser.add_argument("--lengths", nargs="+", default=list(episodes))
    parser.add_argument(
        "--episodes",
        nargs="+",
        default=[f"{k}={v}" for k, v in episodes.items()],
        help="questions per task and length, as LENGTH=N",
    )


def parse_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with --episodes as a mapping that covers every --lengths entry."""
    args = parser.parse_args()
    args.episodes = counts_for(parser, args.episodes, args.lengths, "--episodes")
    return args


def counts_for(
    parser: argparse.ArgumentParser, items: Sequence[str], names: Sequence[str], option: str
) -> dict[str, int]:
    """`option`'s NAME=N arguments as a mapping; a usage error if a name lacks one."""
    counts = {key: int(value) for key, value in (item.split("=", 1) for item in items)}
    missing = [name for name in names if name not in counts]
    if missing:
        parser.error(f"no {option} count for {missing}")
    return counts


def machine() -> str:
    return (
        f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {resolve_device('auto')}"
    )


@dataclass
class Model:
    """A checkpoint's network, where it came from, its training seconds (None when
    loaded) and the learned stop's thresholds it chose on validation episodes."""

    network: QNetwork
    note: str
    train_seconds: float | None
    stop_thresholds: dict[str, float]


def loaded_model(path: Path) -> Model:
    """The network of the checkpoint saved in `path` and the stop thresholds it learned."""
    checkpoint = load_checkpoint(path)
    return Model(
        checkpoint.build_network(resolve_device("auto")), str(path), None, checkpoint.stop_thresholds
    )


def pool_embeddings(parameters: Mapping[str, Any], pools: TrainingPools) -> EpisodeEmbeddings:
    """The training pools embedded by the embed stage's node (`embed` parameters; its
    shards kept in and read from embed.cache_dir, CACHE for the benchmarks)."""
    return embed_training_pools(
        samples_to_frame(pools.stories),
        documents_to_frame(pools.documents),
        episodes_to_frame(pools.hotpotqa_episodes),
        parameters["embed"],
    )


def trained_and_saved(
    train_q: Mapping[str, Any],
    pools: TrainingPools,
    embeddings: EpisodeEmbeddings | None,
    name: str,
) -> tuple[TrainingResult, float, Path]:
    """The train_q stage's run of `train_q` on `pools` (`run_training`; no run folder:
    nothing resumed), the wall seconds it took, and where its checkpoint is saved:
    benchmarks/results/checkpoints/<name>_<updates>u_<time> (git-ignored)."""
    start = time.perf_counter()
    result = run_training(train_q, pools, embeddings, run_dir=None)
    seconds = round(time.perf_counter() - start, 1)
    updates = train_q["learning"]["total_updates"]
    saved = RESULTS / "checkpoints" / f"{name}_{updates}u_{time.strftime('%Y%m%dT%H%M%S')}"
    save_checkpoint(result.checkpoint, saved)
    return result, seconds, saved


def checkpoint_model(args: argparse.Namespace, name: str, pools: Callable[[], TrainingPools]) -> Model:
    """--checkpoint's model, or one trained here with the benchmark's train_q
    parameters on the `pools` (built only then; embedded by the pretrained encoder
    only for a frozen action encoder) and saved under
    benchmarks/results/checkpoints/ (git-ignored)."""
    if args.checkpoint is not None:
        return loaded_model(args.checkpoint)
    train_q = args.parameters["train_q"]
    training = pools()
    reads_pool = reads_pool_embeddings(train_q["model"])
    pool = pool_embeddings(args.parameters, training) if reads_pool else None
    result, seconds, saved = trained_and_saved(train_q, training, pool, name)
    learning = train_q["learning"]
    note = (
        f"trained here: {learning['total_updates']} updates, lr {learning['learning_rate']}, "
        f"T={learning['max_steps']}, seed {learning['seed']}; saved to {saved.relative_to(ROOT)}"
    )
    return Model(result.network, note, seconds, result.checkpoint.stop_thresholds)


def benchmark_metrics(
    model: Model,
    episodes: Sequence[Episode],
    parameters: Mapping[str, Any],
    pretrained: EpisodeEmbeddings | None = None,
    baseline_episodes: Sequence[Episode] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`benchmark_evaluation`' metrics table and embedding facts, without the traces."""
    result, facts = benchmark_evaluation(model, episodes, parameters, pretrained, baseline_episodes)
    return result.metrics, facts


def benchmark_evaluation(
    model: Model,
    episodes: Sequence[Episode],
    parameters: Mapping[str, Any],
    pretrained: EpisodeEmbeddings | None = None,
    baseline_episodes: Sequence[Episode] | None = None,
) -> tuple[evaluation.MethodsEvaluation, dict[str, Any]]:
    """Q-RAG and the three baselines on `episodes` by the evaluate stage's entry point
    (`evaluation.evaluate_methods`, at the evaluate parameters), each distinct chunk
    embedded once by the pretrained encoder (`pretrained`, else embedded here) and,
    for the paper's trained action encoder, once by it: the traces and metrics tables
    and the embedding facts (distinct chunks, seconds, the learned stop's threshold)."""
    evaluate = parameters["evaluate"]
    if pretrained is None:
        pretrained = episode_embeddings(parameters, episodes)
    result = evaluation.evaluate_methods(
        model.network, model.stop_thresholds, episodes, pretrained, evaluate, baseline_episodes
    )
    encode_s = result.traces.groupby("method", sort=False)["encode_s"].sum()
    facts = {
        "distinct_chunks_embedded": len(pretrained.texts),
        "embed_seconds": {
            "q_rag": round(float(encode_s[evaluation.Q_RAG]), 1),
            "pretrained": round(pretrained.encode_s, 1),
        },
        "q_rag_shares_the_pretrained_embeddings": evaluation.shares_pretrained_embeddings(
            model.network, pretrained
        ),
        "stop_threshold": evaluation.stop_setting(evaluate, model.stop_thresholds),
    }
    return result, facts


def q_rag_fact_em(metrics: pd.DataFrame, max_steps: int) -> float:
    """Q-RAG's fact EM@T in a metrics table of one task and length."""
    (value,) = metrics.loc[metrics.method == evaluation.Q_RAG, f"fact_em@T={max_steps}"]
    return round(float(value), 4)


def write_report(report: dict[str, Any], metrics: pd.DataFrame, out: Path) -> None:
    """The run record as JSON (with the metrics) and the metrics table as CSV."""
    report = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        **report,
        "metrics": metrics.to_dict(orient="records"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    metrics.to_csv(out.with_suffix(".csv"), index=False)


def print_table(metrics: pd.DataFrame, columns: Sequence[str]) -> None:
    """The chosen columns of the metrics table (those present), one row per group."""
    keep = [
        "benchmark",
        "task",
        "length_bucket",
        "method",
        "n_episodes",
        *[c for c in columns if c in metrics.columns],
    ]
    with pd.option_context(
        "display.width", 220, "display.max_columns", 30, "display.float_format", "{:.3f}".format
    ):
        print(metrics[keep].to_string(index=False))


@dataclass
class TimedLearner:
    """A learner after its timed updates: each update's metrics (their `updates_per_s`
    and `seconds_<part>` time it) and the seconds its making took."""

    learner: QLearner
    history: list[dict[str, float]]
    setup_s: float


def timed_learner(
    train_q: Mapping[str, Any],
    pools: TrainingPools,
    pool: EpisodeEmbeddings | None,
    ranks: Ranks,
    device: torch.device,
) -> TimedLearner:
    """The learner of `train_q` (its model from the pretrained weights, its episodes from
    `pools`, as the train_q stage makes them), as rank `ranks.rank`, after its
    `total_updates` updates; no evaluation, no checkpoint."""
    learning, sampler, _ = training_inputs(train_q, pools)
    model = train_q["model"]
    start = time.perf_counter()
    network = QNetwork.from_pretrained(**model)
    learner = QLearner(network, sampler, learning, device, used_pool_embeddings(model, pool), ranks)
    setup_s = time.perf_counter() - start
    return TimedLearner(learner, [learner.update() for _ in range(learning.total_updates)], setup_s)
