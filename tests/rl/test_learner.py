"""QLearner on a tiny random Q-network: caching, update, resume; greedy inference."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from qrag_pipeline.builders.babilong import babilong_sampler
from qrag_pipeline.episodes import Episode
from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.lexical import LexicalIndex
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings, embed_texts
from qrag_pipeline.rl.config import QLearningConfig
from qrag_pipeline.rl.inference import fact_em_rate, greedy_rollout
from qrag_pipeline.rl.learner import (
    QLearner,
    label_loss,
    lambda_returns,
    learning_rate_at,
    td_loss,
)
from qrag_pipeline.sources.babi_generator import generate_babi_samples
from qrag_pipeline.training_data import training_pool_texts

MakeNetwork = Callable[..., QNetwork]
MakeLearner = Callable[..., QLearner]
CPU = torch.device("cpu")
FROZEN = {"frozen_action_encoder": True, "action_head": "linear"}
LEXICAL = {**FROZEN, "lexical_weight": 0.5}


@pytest.fixture
def make_learner(make_tiny_network: MakeNetwork, train_prose: dict[str, list[str]]) -> MakeLearner:
    """make(network_seed, action_side, pool, **config overrides): a learner on
    12-sentence qa1 episodes; `action_side` holds QNetwork's frozen_action_encoder and
    action_head, `pool` the pools embedded beforehand for a frozen one (True: by its
    own encoder)."""

    def make(
        network_seed: int = 0,
        action_side: dict[str, Any] | None = None,
        pool: bool | EpisodeEmbeddings = False,
        **overrides: Any,
    ) -> QLearner:
        options = {
            "learning_rate": 3e-3,
            "warmup_updates": 1,
            "total_updates": 10,
            "learning_start": 0,
            "num_envs": 4,
            "num_steps": 4,
            "max_steps": 3,
            "precision": "float32",
            **overrides,
        }
        samples = generate_babi_samples("qa1", 10, seed=1)
        sampler = babilong_sampler(samples, train_prose, 12)
        network = make_tiny_network(seed=network_seed, **(action_side or {}))
        embedded = (
            embed_texts(network.action_encoder, training_pool_texts(samples, train_prose), progress=False)
            if pool is True
            else pool or None
        )
        return QLearner(network, sampler, QLearningConfig(**options), CPU, embedded)

    return make


@pytest.mark.parametrize("action_side", [None, FROZEN, LEXICAL], ids=["paper", "frozen", "lexical"])
def test_the_loss_re_encodes_exactly_the_q_the_policy_acted_on(
    make_learner: MakeLearner, action_side: dict[str, Any] | None
) -> None:
    learner = make_learner(action_side=action_side, pool=action_side is not None)
    learner.collect_rollout(alpha=0.01, explore=False)
    q1, q2 = learner.taken_q(learner.rollout_state_embeddings())
    assert q1.requires_grad and q2.requires_grad
    torch.testing.assert_close((q1 + q2).detach().view(4, 4), learner.rollout.q_taken, atol=1e-5, rtol=0)


def test_every_reset_re_embeds_the_new_document(make_learner: MakeLearner) -> None:
    learner = make_learner()
    learner.collect_rollout(alpha=0.01, explore=True)
    assert learner.rollout.dones.any()
    for env, progress in enumerate(learner.env.progress):
        expected = learner.network.action_encoder.encode(progress.episode.chunks)
        torch.testing.assert_close(learner.online_chunks[env], expected)
        torch.testing.assert_close(learner.target_chunks[env], expected)


def test_one_update_lowers_the_loss_of_its_batch_and_moves_the_target(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(num_envs=8, num_steps=8, learning_start=1)
    before = {k: v.clone() for k, v in learner.network.state_dict().items()}
    metrics = learner.update()
    config = learner.config
    rollout = learner.rollout
    returns = lambda_returns(rollout.rewards, rollout.dones, rollout.next_values, config.gamma, config.lam)
    assert learner.rollout.rewards.sum() > 0
    with torch.no_grad():
        after = td_loss(*learner.taken_q(learner.rollout_state_embeddings()), returns.flatten()).item()
    assert after < metrics["loss"]

    online, target = learner.network.state_dict(), learner.target.state_dict()
    name = "state_encoder.model.encoder.layer.1.output.dense.weight"
    torch.testing.assert_close(target[name], 0.9 * before[name] + 0.1 * online[name])
    assert not torch.equal(online[name], before[name])
    assert metrics["learning_rate"] == learning_rate_at(0, config) == 3e-3
    assert metrics["alpha"] == pytest.approx(0.01)
    assert metrics["episodes"] > 0 and 0 <= metrics["fact_em"] <= 1


@pytest.mark.parametrize("action_side", [None, LEXICAL], ids=["paper", "lexical"])
def test_online_targets_are_the_target_networks_before_it_moves(
    make_learner: MakeLearner, action_side: dict[str, Any] | None
) -> None:
    """At the first rollout the target network is still the online one, so both
    sources of next values must agree wherever a value is read (not after an end)."""
    rollouts = {}
    for targets in ("target_network", "online"):
        learner = make_learner(action_side=action_side, pool=action_side is not None, targets=targets)
        learner.collect_rollout(alpha=0.01, explore=False)
        rollouts[targets] = learner.rollout
    assert learner.target is None
    assert not any(name.startswith(("target.", "chunks.target.")) for name in learner.state_dict()[0])
    reference, online = rollouts["target_network"], rollouts["online"]
    assert online.states == reference.states
    read = ~reference.dones
    assert read.any() and reference.next_values[read].abs().sum() > 0
    torch.testing.assert_close(online.next_values[read], reference.next_values[read], atol=1e-5, rtol=0)


def test_alpha_follows_the_learning_rate_schedule(make_learner: MakeLearner) -> None:
    learner = make_learner(warmup_updates=4, learning_start=1)
    first, second = learner.update(), learner.update()
    assert (first["random_actions"], second["random_actions"]) == (1.0, 0.0)
    assert first["learning_rate"] == pytest.approx(3e-3 / 4)
    assert first["alpha"] == pytest.approx(0.01 / 4)
    assert second["alpha"] == pytest.approx(0.01 / 2)


def test_top_layers_leaves_embeddings_and_lower_layers_untouched(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(trainable="top_layers", trainable_layers=1)
    before = {k: v.clone() for k, v in learner.network.state_dict().items()}
    learner.update()
    after = learner.network.state_dict()
    for encoder in ("state_encoder", "action_encoder"):
        frozen = [
            f"{encoder}.model.embeddings.word_embeddings.weight",
            f"{encoder}.model.encoder.layer.0.output.dense.weight",
        ]
        trained = f"{encoder}.model.encoder.layer.1.output.dense.weight"
        assert all(torch.equal(after[name], before[name]) for name in frozen)
        assert not torch.equal(after[trained], before[trained])


def test_settings_are_checked(make_tiny_network: MakeNetwork) -> None:
    with pytest.raises(QragInputError, match="must be positive"):
        QLearningConfig(num_envs=0)
    with pytest.raises(QragInputError, match=r"trainable='adapter' must be one of \('all', 'top_layers'\)"):
        QLearningConfig(trainable="adapter")
    with pytest.raises(QragInputError, match="trainable_layers=3, but the encoder has 2 layers"):
        make_tiny_network().trainable_parameters(top_layers=3)
    with pytest.raises(
        QragInputError, match=r"label_loss='hinge' must be one of \('none', 'margin', 'softmax'\)"
    ):
        QLearningConfig(label_loss="hinge")
    with pytest.raises(QragInputError, match="label_weight=-1.0 must be 0 or more"):
        QLearningConfig(label_weight=-1.0)
    with pytest.raises(QragInputError, match="label_temperature=0.0 must be positive"):
        QLearningConfig(label_temperature=0.0)
    with pytest.raises(QragInputError, match="label_margin_decay='yes' must be true or false"):
        QLearningConfig(label_margin_decay="yes")
    with pytest.raises(QragInputError, match=r"targets='polyak' must be one of \('target_network', 'online"):
        QLearningConfig(targets="polyak")


def _weights_after(learner: QLearner, updates: int) -> tuple[dict[str, torch.Tensor], list[float]]:
    losses = [learner.update()["loss_td"] for _ in range(updates)]
    return learner.network.state_dict(), losses


@pytest.mark.parametrize(
    "inert",
    [
        {"label_loss": "none", "label_weight": 3.0, "label_margin": 0.7, "label_margin_decay": True},
        {"label_loss": "margin", "label_weight": 0.0},
    ],
    ids=["off", "zero-weight"],
)
def test_the_label_term_off_leaves_training_bit_for_bit_unchanged(
    make_learner: MakeLearner, inert: dict[str, Any]
) -> None:
    reference, reference_losses = _weights_after(make_learner(action_side=LEXICAL, pool=True), 3)
    weights, losses = _weights_after(make_learner(action_side=LEXICAL, pool=True, **inert), 3)
    assert losses == reference_losses
    assert all(torch.equal(weights[name], value) for name, value in reference.items())


def test_the_label_terms_gradient_reaches_the_state_side_head_and_lexical_weight_only(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(action_side=LEXICAL, pool=True, label_loss="margin", label_margin=5.0)
    learner.collect_rollout(alpha=0.01, explore=False)
    labelled = learner.labelled_q(learner.rollout_state_embeddings())
    assert labelled is not None
    loss = label_loss(*labelled, "margin", 5.0, 0.1)
    assert loss.item() > 0  # a margin of 5 is violated everywhere
    loss.backward()
    gradients = {name: p.grad for name, p in learner.network.named_parameters()}
    assert all(g is None for name, g in gradients.items() if name.startswith("action_encoder."))
    for name in (
        "state_encoder.model.encoder.layer.1.output.dense.weight",
        "action_head.weight",
        "lexical_weight",
    ):
        assert gradients[name] is not None and gradients[name].abs().sum() > 0, name


def test_each_labelled_state_holds_the_missing_facts_of_its_episode_before_the_pick(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(action_side=FROZEN, pool=True, label_loss="margin")
    before = [(tuple(p.retrieved), p.episode) for p in learner.env.progress]
    learner.collect_rollout(alpha=0.01, explore=True)
    for env, (retrieved, episode) in enumerate(before):
        state = learner.rollout.labelled[0][env]
        assert state.retrieved == retrieved
        assert state.missing == tuple(sorted(set(episode.support) - set(retrieved)))
        assert state.chunks.shape[0] == len(episode.chunks)


def test_states_with_every_fact_found_add_nothing_to_the_label_term(make_learner: MakeLearner) -> None:
    """The pick after the facts are complete (extra_step_penalty) has no right answer.

    (A training episode always has support ids: the environment refuses one without,
    since no reward could be given, so unlabelled sets never reach the learner.)
    """
    learner = make_learner(
        num_envs=8, action_side=FROZEN, pool=True, label_loss="margin", extra_step_penalty=0.1
    )
    learner.collect_rollout(alpha=0.01, explore=False)
    states = [state for row in learner.rollout.labelled for state in row]
    complete = [state for state in states if not state.missing]
    assert complete, "no state had every fact found: the test would not check the skip"
    q1, _, _, expert = learner.labelled_q(learner.rollout_state_embeddings())
    assert q1.shape[0] == expert.shape[0] == len(states) - len(complete)
    assert expert.any(dim=-1).all()


@pytest.mark.parametrize("form", ["margin", "softmax"])
def test_one_update_with_the_label_term_lowers_it_on_its_batch(make_learner: MakeLearner, form: str) -> None:
    learner = make_learner(num_envs=8, num_steps=4, action_side=FROZEN, pool=True, label_loss=form)
    metrics = learner.update()
    assert metrics["loss_labels"] > 0
    with torch.no_grad():
        labelled = learner.labelled_q(learner.rollout_state_embeddings())
        after = label_loss(*labelled, form, learner.config.label_margin, learner.config.label_temperature)
    assert after.item() < metrics["loss_labels"]
    assert metrics["loss"] == pytest.approx(metrics["loss_td"] + metrics["loss_labels"], rel=1e-5)


def test_the_margin_decays_with_the_learning_rate_when_asked(make_learner: MakeLearner) -> None:
    learner = make_learner(action_side=FROZEN, pool=True, label_loss="margin", label_margin_decay=True)
    margins = [learner.update()["label_margin"] for _ in range(3)]
    rates = [learning_rate_at(u, learner.config) / learner.config.learning_rate for u in range(3)]
    assert margins == pytest.approx([0.2 * rate for rate in rates])
    assert margins[2] < margins[0]  # the decay after the warm-up


def test_gradient_accumulation_takes_one_optimiser_step_per_update(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(grad_accumulation=2)
    metrics = learner.update()
    steps = {float(state["step"]) for state in learner.optimizer.state.values()}
    assert steps == {1.0}
    assert metrics["transitions_per_s"] == pytest.approx(32 * metrics["updates_per_s"])


@pytest.mark.parametrize(
    ("action_side", "labels", "targets"),
    [
        (None, "none", "target_network"),
        (FROZEN, "none", "target_network"),
        (LEXICAL, "none", "target_network"),
        (LEXICAL, "margin", "target_network"),
        (None, "softmax", "online"),
        (LEXICAL, "softmax", "online"),
    ],
    ids=["paper", "frozen", "lexical", "lexical+labels", "paper+online", "lexical+labels+online"],
)
def test_a_resumed_learner_continues_exactly_through_safetensors_and_json(
    make_learner: MakeLearner, action_side: dict[str, Any] | None, labels: str, targets: str
) -> None:
    learner = make_learner(
        learning_start=1,
        action_side=action_side,
        pool=action_side is not None,
        label_loss=labels,
        targets=targets,
    )
    learner.update()
    tensors, values = learner.state_dict()
    tensors = load_safetensors(save_safetensors(tensors))
    values = json.loads(json.dumps(values))
    expected = learner.update()

    # another network's weights, but the same pool embeddings (an artifact of the run)
    table = learner.chunk_table
    pool = (
        EpisodeEmbeddings(list(table.row_of), table.vectors, {}, encoder=table.encoder.encoder_config())
        if table is not None
        else False
    )
    resumed = make_learner(
        network_seed=5,
        learning_start=1,
        action_side=action_side,
        pool=pool,
        label_loss=labels,
        targets=targets,
    )
    resumed.load_state_dict(tensors, values)
    assert resumed.updates == 1
    metrics = resumed.update()
    assert metrics["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert metrics["loss_labels"] == pytest.approx(expected["loss_labels"], rel=1e-6)
    assert (metrics["loss_labels"] > 0) == (labels != "none")
    assert metrics["mean_target"] == pytest.approx(expected["mean_target"], rel=1e-6)
    for name, value in learner.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[name], value)
    if targets == "target_network":
        for name, value in learner.target.state_dict().items():
            torch.testing.assert_close(resumed.target.state_dict()[name], value)


def test_a_frozen_action_encoder_looks_chunks_up_and_trains_only_the_state_side_and_head(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(num_envs=8, num_steps=8, learning_start=1, action_side=FROZEN, pool=True)
    table = learner.chunk_table
    before = {k: v.clone() for k, v in learner.network.state_dict().items()}
    metrics = learner.update()
    after = learner.network.state_dict()
    assert learner.rollout.dones.any()  # documents were replaced during the rollout
    assert table.misses == 0 and table.hits > 0  # every chunk came from the pools
    for env, progress in enumerate(learner.env.progress):
        assert learner.online_chunks[env] is learner.target_chunks[env]  # one set, shared
        torch.testing.assert_close(
            learner.online_chunks[env],
            learner.network.action_encoder.encode(progress.episode.chunks),
            atol=2e-3,
            rtol=0,  # the pools are stored in float16
        )
    action = [name for name in before if name.startswith("action_encoder.")]
    assert action and all(torch.equal(after[name], before[name]) for name in action)
    assert not torch.equal(after["action_head.weight"], before["action_head.weight"])
    state = "state_encoder.model.encoder.layer.1.output.dense.weight"
    assert not torch.equal(after[state], before[state])
    assert metrics["seconds_chunk_embedding"] >= 0 and metrics["seconds_loss"] > 0


def test_the_lexical_channel_adds_its_learned_weight_times_the_term_overlap(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(num_envs=8, num_steps=8, learning_start=1, action_side=LEXICAL, pool=True)
    learner.collect_rollout(alpha=0.01, explore=False)
    weight = learner.network.lexical_weight.detach().clone()
    envs = range(learner.config.num_envs)
    states = learner._state_texts(envs)
    embeddings = learner.network.state_encoder.encode(states)
    with torch.no_grad():
        q1, q2, _, overlaps = learner._twin_q(
            learner.network, embeddings, states, learner.online_chunks, envs
        )
    for env, progress in enumerate(learner.env.progress):
        n = len(progress.episode.chunks)
        overlap = LexicalIndex(progress.episode.chunks).scores([states[env]])[0]
        torch.testing.assert_close(overlaps[env, :n], overlap)
        dense = learner.network.chunk_twin_q(
            embeddings[env], learner.online_chunks[env], progress.retrieved, torch.zeros(n)
        )
        torch.testing.assert_close(q1[env, :n], dense[0] + weight[0] * overlap)
        torch.testing.assert_close(q2[env, :n], dense[1] + weight[1] * overlap)
    assert learner.rollout.lexical_taken.max() > 0  # the taken chunks share words with their states
    learner.update()
    assert not torch.equal(learner.network.lexical_weight.detach(), weight)  # it learns


def test_each_state_is_scored_against_its_document_once(
    make_learner: MakeLearner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target pass scores each live env's next state; the next policy pass acts on
    that same state and must reuse its overlaps, not score it again."""
    scored: list[tuple[LexicalIndex, str]] = []
    score = LexicalIndex.scores

    def counted(index: LexicalIndex, texts: list[str]) -> torch.Tensor:
        scored.extend((index, text) for text in texts)
        return score(index, texts)

    monkeypatch.setattr(LexicalIndex, "scores", counted)
    learner = make_learner(learning_start=1, action_side=LEXICAL, pool=True)
    learner.update()
    learner.update()
    pairs = [(id(index), text) for index, text in scored]  # `scored` keeps each index alive
    steps = 2 * learner.config.num_steps
    assert len(pairs) == len(set(pairs)) >= learner.config.num_envs * steps


def test_without_the_lexical_channel_no_overlaps_are_made(make_learner: MakeLearner) -> None:
    learner = make_learner(action_side=FROZEN, pool=True)
    learner.collect_rollout(alpha=0.01, explore=False)
    envs = range(learner.config.num_envs)
    states = learner._state_texts(envs)
    with torch.no_grad():
        embeddings = learner.network.state_encoder.encode(states)
        *_, overlaps = learner._twin_q(learner.network, embeddings, states, learner.online_chunks, envs)
    assert overlaps is None and not learner.rollout.lexical_taken.any()


def test_without_pools_a_frozen_action_encoder_encodes_each_document_itself(
    make_learner: MakeLearner,
) -> None:
    learner = make_learner(action_side=FROZEN)
    learner.collect_rollout(alpha=0.01, explore=True)
    assert learner.chunk_table.hits == 0 and learner.chunk_table.misses > 0
    for env, progress in enumerate(learner.env.progress):
        torch.testing.assert_close(
            learner.online_chunks[env],
            learner.network.action_encoder.encode(progress.episode.chunks),
            atol=2e-3,
            rtol=0,
        )


def test_pools_for_a_trained_action_encoder_are_refused(make_learner: MakeLearner) -> None:
    with pytest.raises(QragInputError, match="the Q-network trains its action encoder.*Fix: set"):
        make_learner(pool=True)


def _episode(chunks: list[str], support: list[int]) -> Episode:
    return Episode("e", "test", "qa1", "t", "Where is Mary?", "garden", chunks, support)


def test_greedy_rollout_takes_distinct_argmax_chunks_and_stops_when_none_are_left(
    make_tiny_network: MakeNetwork,
) -> None:
    network = make_tiny_network(seed=0)
    long = _episode(
        [f"Background sentence {i}." for i in range(10)] + ["Mary went to the garden."],
        [10],
    )
    short = _episode(["Mary went to the garden.", "John slept."], [0])
    retrieved = greedy_rollout(network, [long, short], max_steps=4)
    assert [len(r) for r in retrieved] == [4, 2]
    assert len(set(retrieved[0])) == 4 and sorted(retrieved[1]) == [0, 1]

    state = network.state_encoder.encode([long.question])
    chunks = network.action_encoder.encode(long.chunks)
    nothing_retrieved = torch.tensor([], dtype=torch.long)
    q = sum(network.twin_q(state, network.positioned_actions(chunks, nothing_retrieved)))
    assert retrieved[0][0] == int(q[0].argmax())


def test_fact_em_rate_counts_episodes_with_every_supporting_chunk() -> None:
    episodes = [_episode(["a", "b", "c"], [0, 2]), _episode(["a", "b", "c"], [1])]
    assert fact_em_rate(episodes, [[2, 1, 0], [0, 2]]) == 0.5
    assert fact_em_rate(episodes, [[2, 0], [1]]) == 1.0
