"""The benchmarks' parameters: conf/base's, each benchmark's defaults and --params over
them, read as `kedro run --params` reads its dotted keys and YAML values."""

from __future__ import annotations

import argparse
import copy
import importlib
import sys

import pytest

from qrag_pipeline.errors import QragInputError
from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the scripts import it as `common`
from common import (  # noqa: E402
    add_params_argument,
    conf_parameters,
    dotted_values,
    set_parameters,
    with_values,
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
    parameters = with_values(base, dotted_values([*items, "train_q.train_sentences=[50, 250]"]))
    learning = parameters["train_q"]["learning"]
    assert learning["total_updates"] == 7 and learning["learning_rate"] == 1e-4  # YAML: a number
    assert parameters["train_q"]["train_sentences"] == [50, 250]
    assert {k: v for k, v in learning.items() if k not in ("total_updates", "learning_rate")} == {
        k: v for k, v in base["train_q"]["learning"].items() if k not in ("total_updates", "learning_rate")
    }
    assert base == before  # conf's own mapping untouched


def test_a_mapping_value_merges_and_a_mapping_of_data_takes_new_keys() -> None:
    items = ["train_q.task_weights={qa4: 2}", "evaluate.steps_by_benchmark.musique=3"]
    parameters = with_values(conf_parameters(), dotted_values(items))
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
        with_values(conf_parameters(), dotted_values([item]))


def test_params_win_over_the_benchmarks_defaults_and_bad_ones_are_one_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="bench")
    add_params_argument(parser)
    defaults = {"train_q.learning.total_updates": 80, "evaluate.max_steps": 3}
    args = set_parameters(parser, parser.parse_args(["--params", "evaluate.max_steps=5"]), defaults)
    assert args.parameters["train_q"]["learning"]["total_updates"] == 80
    assert args.parameters["evaluate"]["max_steps"] == 5

    for item, message in (
        ("evaluate.max_step=5", "--params evaluate.max_step: evaluate has no parameter 'max_step'"),
        ("evaluate.max_steps=four", "bad parameters: evaluate.max_steps='four' must be a whole number"),
    ):
        with pytest.raises(SystemExit) as stopped:
            set_parameters(parser, parser.parse_args(["--params", item]), defaults)
        assert stopped.value.code == 2
        (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert error.startswith(f"bench: error: {message}")


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_every_benchmark_default_names_a_conf_parameter(benchmark: str) -> None:
    defaults = importlib.import_module(benchmark).DEFAULTS
    parameters = with_values(conf_parameters(), defaults)
    for key, value in defaults.items():
        level = parameters
        for part in key.split("."):
            level = level[part]
        assert level == value
