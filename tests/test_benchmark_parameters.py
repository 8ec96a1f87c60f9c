"""The benchmarks' parameters: conf/base's, each benchmark's conf/bench_<name> and
--params over them, read by Kedro's config loader as `kedro run --env ... --params`
reads them."""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import pytest
import yaml

from qrag_pipeline.builders.babilong import build_babilong_episodes
from qrag_pipeline.builders.ruler import build_niah_episodes
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.books import load_books
from qrag_pipeline.sources.story_sources import load_story_samples
from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the scripts import it as `common`
from common import (  # noqa: E402
    CACHE,
    THIRTEEN_ENV,
    add_params_argument,
    benchmark_parameters,
    conf_parameters,
    dotted_values,
    evaluation_episodes,
    official_stories,
    seed_of,
    set_parameters,
)

BENCHMARKS = (
    "evaluate_babilong",
    "evaluate_ruler",
    "evaluate_hotpotqa",
    "one_model",
    "learner_quality",
    "learner_speed",
)


def test_a_nested_override_lands_and_leaves_its_neighbours() -> None:
    base = conf_parameters()
    before = copy.deepcopy(base)
    items = ["train_q.learning.total_updates=7", "train_q.learning.learning_rate=1e-4"]
    parameters = benchmark_parameters("base", dotted_values([*items, "train_q.train_sentences=[50, 250]"]))
    learning = parameters["train_q"]["learning"]
    assert learning["total_updates"] == 7 and learning["learning_rate"] == 1e-4  # YAML: a number
    assert parameters["train_q"]["train_sentences"] == [50, 250]
    assert {k: v for k, v in learning.items() if k not in ("total_updates", "learning_rate")} == {
        k: v for k, v in base["train_q"]["learning"].items() if k not in ("total_updates", "learning_rate")
    }
    assert base == before  # conf's own mapping untouched


def test_a_mapping_value_merges_and_a_mapping_of_data_takes_new_keys() -> None:
    items = ["train_q.task_weights={qa4: 2}", "evaluate.steps_by_benchmark.musique=3"]
    parameters = benchmark_parameters("base", dotted_values(items))
    assert parameters["train_q"]["task_weights"]["qa4"] == 2
    assert parameters["train_q"]["task_weights"]["qa3"] == 3
    assert parameters["evaluate"]["steps_by_benchmark"] == {"hotpotqa": 2, "musique": 3}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("trainq.tasks=[qa1]", r"--params trainq.tasks: conf/base has no parameter 'trainq'"),
        (
            "train_q.learning.learnin_rate=0.1",
            r"--params train_q.learning.learnin_rate: train_q.learning has no parameter 'learnin_rate'",
        ),
        ("train_q.tasks.qa1=1", r"train_q.tasks has no parameter 'qa1'"),
        ("evaluate.max_steps", r"--params item 'evaluate.max_steps' is not KEY=VALUE"),
    ],
)
def test_an_unknown_key_or_a_malformed_item_is_refused_naming_it(item: str, message: str) -> None:
    with pytest.raises(QragInputError, match=message):
        benchmark_parameters("base", dotted_values([item]))


def test_params_win_over_the_benchmarks_environment_and_bad_ones_are_one_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="bench")
    add_params_argument(parser)
    env, own = "bench_evaluate_babilong", {"evaluate.max_steps": 3, "train_q.tasks": ["qa2"]}
    args = set_parameters(parser, parser.parse_args(["--params", "evaluate.max_steps=5"]), env, own)
    assert args.parameters["train_q"]["learning"]["total_updates"] == 80  # the environment's
    assert args.parameters["train_q"]["tasks"] == ["qa2"]  # the benchmark's own option
    assert args.parameters["evaluate"]["max_steps"] == 5  # --params last
    assert args.parameters["train_q"]["learning"]["seed"] == conf_parameters()["train_q"]["learning"]["seed"]

    for item, message in (
        ("evaluate.max_step=5", "--params evaluate.max_step: evaluate has no parameter 'max_step'"),
        ("evaluate.max_steps=four", "bad parameters: evaluate.max_steps='four' must be a whole number"),
    ):
        with pytest.raises(SystemExit) as stopped:
            set_parameters(parser, parser.parse_args(["--params", item]), env, own)
        assert stopped.value.code == 2
        (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert error.startswith(f"bench: error: {message}")


def _dotted(prefix: str, value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {k: v for key, child in value.items() for k, v in _dotted(f"{prefix}.{key}", child).items()}
    return {prefix: value}


BENCH_ENVS = sorted(path.name for path in (PROJECT_ROOT / "conf").glob("bench_*"))


def test_every_benchmark_reads_its_own_environment_and_each_environment_is_read() -> None:
    assert sorted(f"bench_{name}" for name in BENCHMARKS) == BENCH_ENVS
    for name in BENCHMARKS:
        assert f'"bench_{name}"' in (PROJECT_ROOT / "benchmarks" / f"{name}.py").read_text(), name
    assert THIRTEEN_ENV in BENCH_ENVS  # the learner benchmarks' --task thirteen


@pytest.mark.parametrize("env", BENCH_ENVS)
def test_every_value_of_a_benchmark_environment_names_a_conf_base_parameter_and_lands(env: str) -> None:
    """Kedro adds a key conf/base lacks without a word: a misspelt one would be ignored."""
    raw = yaml.safe_load((PROJECT_ROOT / "conf" / env / "parameters.yml").read_text())
    values = {key: value for top, tree in raw.items() for key, value in _dotted(top, tree).items()}
    assert values
    expected = conf_parameters(env)
    expected["embed"]["cache_dir"] = str(CACHE)  # every benchmark's shard store
    assert benchmark_parameters("base", values) == expected


def test_benchmark_episodes_are_the_data_prep_stages_for_the_same_settings(shared_data: Path) -> None:
    """The benchmarks build their evaluation episodes through the data_prep nodes: the
    official test stories and NIAH needles in the unseen test books, as the builders
    make them from those sources with the run's seed."""
    parameters = conf_parameters("bench_one_model")
    seed = seed_of(parameters)
    books = load_books(shared_data / "books" / "test")
    stories = official_stories(shared_data)
    expected = build_babilong_episodes(
        {task: load_story_samples(stories, task, "test", seed) for task in ("qa2", "qa3")},
        books,
        ["1k"],
        3,
        seed,
    )
    expected += build_niah_episodes(["niah_single_1", "niah_multikey_3"], books, ["4k"], 2, seed)
    niah = {"data_prep.ruler.tasks": ["niah_single_1", "niah_multikey_3"]}
    built = evaluation_episodes(
        benchmark_parameters("bench_one_model", niah),
        shared_data,
        {"1k": 3},
        {"4k": 2},
        lambda _length: ["qa2", "qa3"],
    )
    assert built == expected
    assert {episode.task for episode in built} == {"qa2", "qa3", "niah_single_1", "niah_multikey_3"}
