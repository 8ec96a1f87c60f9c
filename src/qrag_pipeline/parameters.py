"""Parameter checks made before the first node runs: a wrong type or sign is named at once.

Without them a string where a count belongs fails deep in a node as a `TypeError`
("'<' not supported between instances of 'str' and 'int'"), a zero checkpoint interval
as a `ZeroDivisionError`, and some bad values pass silently (`evaluate.max_steps: 0`
scores retrieval of no chunk at all). `RULES` lists every numeric or boolean parameter
of the stages with what it must be; `check_parameters` checks the ones a run reads.
A parameter absent from the configuration is not checked (its node says what it
misses), and the learner's settings are checked by `QLearningConfig` itself
(`rl/config.py`), the one check of them whether they come from here or from code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qrag_pipeline.checks import is_finite_number, is_whole
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.backend_names import SETTINGS
from qrag_pipeline.rl.config import distributed_config, learning_config


@dataclass(frozen=True)
class Rule:
    """What one parameter must be: `valid(value)`, described as `requirement`."""

    valid: Callable[[Any], bool]
    requirement: str


def whole(minimum: int) -> Rule:
    """A whole number of at least `minimum`."""
    return Rule(lambda v: is_whole(v) and v >= minimum, f"a whole number of at least {minimum}")


def number(above: float | None = None) -> Rule:
    """A finite number, greater than `above` when that is given."""
    return Rule(
        lambda v: is_finite_number(v) and (above is None or v > above),
        "a finite number" + ("" if above is None else f" greater than {above}"),
    )


BOOLEAN = Rule(lambda v: isinstance(v, bool), "true or false")


def _settings_rule(make: Callable[[Mapping[str, Any]], object], requirement: str) -> Rule:
    """A mapping of settings that `make` accepts (it raises its own QragInputError
    naming each wrong one)."""

    def valid(value: Any) -> bool:
        if not isinstance(value, Mapping):
            return False
        make(value)
        return True

    return Rule(valid, requirement)


RULES: dict[str, Rule] = {
    "data_prep.seed": whole(0),
    "data_prep.stories.generated_train_stories": whole(1),
    "data_prep.stories.generated_test_stories": whole(1),
    "data_prep.stories.train_vocabulary": Rule(lambda v: v in ("official", "varied"), "official or varied"),
    "data_prep.stories.test_vocabulary": Rule(lambda v: v in ("official", "varied"), "official or varied"),
    "data_prep.distractors.prose_documents": whole(1),
    "data_prep.distractors.prose_sentences_per_document": whole(1),
    "data_prep.distractors.min_words": whole(1),
    "data_prep.distractors.max_words": whole(1),
    "data_prep.babilong.episodes_per_task_length": whole(1),
    "data_prep.babilong.length_buckets.*": whole(1),
    "data_prep.ruler.episodes_per_task_length": whole(1),
    "data_prep.ruler.length_buckets.*": whole(1),
    "data_prep.hotpotqa.train_questions": whole(1),
    "data_prep.hotpotqa.long_context_lengths.*": whole(1),
    "embed.encoder.max_length": whole(1),
    "embed.encoder.scale": number(above=0),
    "embed.encoder.trust_remote_code": BOOLEAN,
    "embed.progress": BOOLEAN,
    "embed.backend": Rule(lambda v: v in SETTINGS, " | ".join(SETTINGS)),
    "embed.executor.kind": Rule(lambda v: v in ("local", "dask"), "local or dask"),
    "embed.executor.shard_size": whole(1),
    "embed.executor.n_workers": whole(1),
    "embed.executor.threads_per_worker": whole(1),
    "embed.executor.processes": BOOLEAN,
    "embed.executor.resources.*": number(above=0),
    "embed.cache_dir": Rule(
        lambda v: v is None or (isinstance(v, str) and bool(v.strip())), "null or a folder path"
    ),
    "train_q.train_sentences": Rule(
        lambda v: (
            (is_whole(v) and v >= 1)
            or (isinstance(v, list) and len(v) == 2 and all(is_whole(x) for x in v) and 1 <= v[0] <= v[1])
        ),
        "a whole number of at least 1 or a pair [shortest, longest]",
    ),
    "train_q.validation_questions": whole(1),
    "train_q.task_weights.*": number(above=0),
    "train_q.hotpotqa_mix_chunks": whole(0),
    "train_q.checkpoint_every": whole(1),
    "train_q.resume": BOOLEAN,
    "train_q.select_best": BOOLEAN,
    "train_q.progress": BOOLEAN,
    "train_q.model.max_length": whole(1),
    "train_q.model.chunk_budget": whole(1),
    "train_q.model.scale": number(above=0),
    "train_q.model.step_size": number(above=0),
    "train_q.model.rotary_fraction": Rule(
        lambda v: number().valid(v) and 0 <= v <= 1, "a number from 0 to 1"
    ),
    "train_q.model.lexical_weight": Rule(
        lambda v: v is None or number().valid(v),
        "null (no lexical channel) or a number (the channel's starting weight)",
    ),
    "train_q.model.trust_remote_code": BOOLEAN,
    "train_q.model.frozen_action_encoder": BOOLEAN,
    "train_q.model.action_head": Rule(lambda v: v in ("none", "linear"), "none or linear"),
    "train_q.learning": _settings_rule(
        learning_config, "a mapping of learner settings (rl/config.py QLearningConfig)"
    ),
    "train_q.distributed": _settings_rule(
        distributed_config, "a mapping of process settings (rl/config.py DistributedConfig)"
    ),
    "evaluate.max_steps": whole(1),
    "evaluate.steps_by_benchmark.*": whole(1),
    "evaluate.stop_threshold": Rule(
        lambda v: v == "checkpoint" or number().valid(v),
        "a finite number or checkpoint (the thresholds the checkpoint learned)",
    ),
    "evaluate.multistep_dense_budget": whole(1),
    "evaluate.progress": BOOLEAN,
    "report.decimals": whole(0),
    "report.dpi": whole(1),
}


def check_parameters(parameters: Mapping[str, Any]) -> None:
    """Raise `QragInputError` naming every parameter (dotted name -> value) that
    breaks its rule; `parameters` maps the run's `params:` inputs to their values."""
    problems = [
        f"{name}={value!r} must be {rule.requirement}"
        for name, value, rule in _checked(parameters)
        if not rule.valid(value)
    ]
    if problems:
        raise QragInputError(
            f"bad parameters: {'; '.join(problems)}. Fix: correct them in "
            "conf/<env>/parameters_*.yml or in --params."
        )


def _checked(parameters: Mapping[str, Any]) -> Iterator[tuple[str, Any, Rule]]:
    """(dotted name, value, rule) of every ruled parameter inside the given inputs."""
    seen: set[str] = set()
    for prefix, value in parameters.items():
        for name, found in _flatten(prefix, value):
            rule = RULES.get(name) or RULES.get(_wildcard(name))
            if rule is not None and name not in seen:
                seen.add(name)
                yield name, found, rule


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """`prefix` itself and every nested key under it, as dotted names."""
    yield prefix, value
    if isinstance(value, Mapping) and prefix not in RULES:
        for key, child in value.items():
            yield from _flatten(f"{prefix}.{key}", child)


def _wildcard(name: str) -> str:
    """`a.b.c` -> `a.b.*`: the rule for every value of the mapping `a.b`."""
    return name.rsplit(".", 1)[0] + ".*"
