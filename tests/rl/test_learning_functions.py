"""The learner's pure functions, each against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qrag_pipeline.rl.config import QLearningConfig
from qrag_pipeline.rl.learner import (
    behaviour_actions,
    label_loss,
    lambda_returns,
    learning_rate_at,
    polyak_update,
    random_actions,
    soft_value,
    td_loss,
)

# One rollout of 3 steps in 2 envs (columns); gamma = lam = 0.5.
REWARDS = torch.tensor([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
NEXT_VALUES = torch.tensor([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
# Env 0 runs through; env 1's episode ends at step 1.
DONES = torch.tensor([[False, False], [False, True], [False, False]])


def test_lambda_returns_by_hand() -> None:
    # env 0: G2 = 2 + .5 * 30 = 17 (the last step bootstraps on its next value alone)
    #        G1 = 0 + .5 * (.5 * 20 + .5 * 17) = 9.25
    #        G0 = 1 + .5 * (.5 * 10 + .5 * 9.25) = 5.8125
    # env 1: G2 = 17; G1 = 0 (the episode ended: no bootstrap, no later return)
    #        G0 = 1 + .5 * (.5 * 10 + .5 * 0) = 3.5
    returns = lambda_returns(REWARDS, DONES, NEXT_VALUES, gamma=0.5, lam=0.5)
    expected = torch.tensor([[5.8125, 3.5], [9.25, 0.0], [17.0, 17.0]])
    torch.testing.assert_close(returns, expected)


def test_lambda_one_is_the_discounted_return_bootstrapped_at_the_end() -> None:
    # G2 = 2 + .5 * 30 = 17, G1 = .5 * 17 = 8.5, G0 = 1 + .5 * 8.5 = 5.25; the values
    # inside the rollout do not matter.
    other_values = NEXT_VALUES.clone()
    other_values[:2] = -99.0
    for values in (NEXT_VALUES, other_values):
        returns = lambda_returns(REWARDS[:, :1], DONES[:, :1], values[:, :1], gamma=0.5, lam=1.0)
        torch.testing.assert_close(returns[:, 0], torch.tensor([5.25, 8.5, 17.0]))


def test_lambda_zero_is_one_step_td() -> None:
    returns = lambda_returns(REWARDS, DONES, NEXT_VALUES, gamma=0.5, lam=0.0)
    expected = torch.tensor([[1 + 5.0, 1 + 5.0], [0 + 10.0, 0.0], [2 + 15.0, 2 + 15.0]])
    torch.testing.assert_close(returns, expected)


Q = torch.tensor([3.0, 1.0, 2.0, 5.0, 4.0])


def test_soft_value_takes_the_top_k_available_actions() -> None:
    available = torch.tensor([True, True, True, False, True])
    # The top 2 available are 4 and 3 (5 is taken).
    # alpha 1: log(e^4 + e^3); alpha .5: .5 * log(e^8 + e^6).
    assert soft_value(Q, available, alpha=1.0, top_k=2).item() == pytest.approx(
        4 + math.log(1 + math.exp(-1)), rel=1e-6
    )
    assert soft_value(Q, available, alpha=0.5, top_k=2).item() == pytest.approx(
        4 + 0.5 * math.log(1 + math.exp(-2)), rel=1e-6
    )
    # top_k 5 over 4 available actions: all of them.
    assert soft_value(Q, available, alpha=1.0, top_k=5).item() == pytest.approx(
        math.log(math.exp(3) + math.exp(1) + math.exp(2) + math.exp(4)), rel=1e-6
    )


def test_soft_value_with_one_or_no_available_action_rows_batched() -> None:
    q = Q.expand(3, 5)
    available = torch.tensor([[False, True, False, False, False], [False] * 5, [True] * 5])
    values = soft_value(q, available, alpha=0.1, top_k=5)
    expected = [1.0, 0.0, 0.1 * math.log(sum(math.exp(v / 0.1) for v in Q.tolist()))]
    assert values.tolist() == pytest.approx(expected, rel=1e-6)


def test_soft_value_tends_to_the_best_available_q_as_alpha_shrinks() -> None:
    available = torch.tensor([True, True, True, False, True])
    gaps = [soft_value(Q, available, alpha, top_k=5).item() - 4.0 for alpha in (1.0, 0.1, 1e-4)]
    assert gaps[0] > gaps[1] > gaps[2] >= 0
    assert gaps[2] < 1e-4


def test_td_loss_by_hand() -> None:
    # 2*q1 = [.2, .6] vs [.5, 1]: MSE (.09 + .16) / 2 = .125
    # 2*q2 = [.4, 0] vs [.5, 1]: MSE (.01 + 1) / 2 = .505; loss = (.125 + .505) / 2
    loss = td_loss(torch.tensor([0.1, 0.3]), torch.tensor([0.2, 0.0]), torch.tensor([0.5, 1.0]))
    assert loss.item() == pytest.approx(0.315)


def test_polyak_update_by_hand() -> None:
    target, online = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        target.weight.copy_(torch.tensor([[1.0, 2.0]]))
        target.bias.fill_(0.0)
        online.weight.copy_(torch.tensor([[3.0, -2.0]]))
        online.bias.fill_(1.0)
    polyak_update(target, online, tau=0.1)
    torch.testing.assert_close(target.weight, torch.tensor([[1.2, 1.6]]))
    torch.testing.assert_close(target.bias, torch.tensor([0.1]))
    torch.testing.assert_close(online.weight, torch.tensor([[3.0, -2.0]]))
    assert target.weight.grad_fn is None


def test_behaviour_actions_sample_the_softmax_of_the_top_k() -> None:
    # The top 2 available: actions 0 (q = log 3) and 1 (q = 0); 2 is taken and 3
    # falls outside the top 2. Softmax over {0, 1}: 3/4 and 1/4.
    q = torch.tensor([[math.log(3.0), 0.0, 5.0, -1.0]]).expand(4000, 4)
    available = torch.tensor([True, True, False, True]).expand(4000, 4)
    generator = torch.Generator().manual_seed(0)
    actions = behaviour_actions(q, available, alpha=1.0, top_k=2, generator=generator)
    assert set(actions.tolist()) == {0, 1}
    assert (actions == 0).float().mean().item() == pytest.approx(0.75, abs=0.03)
    cold = behaviour_actions(q, available, alpha=1e-3, top_k=2, generator=generator)
    assert set(cold.tolist()) == {0}


def test_random_actions_respect_availability() -> None:
    available = torch.tensor([[True, False, True], [True, True, False]])
    generator = torch.Generator().manual_seed(0)
    draws = random_actions(available.repeat(500, 1), generator).view(500, 2)
    assert set(draws[:, 0].tolist()) == {0, 2} and set(draws[:, 1].tolist()) == {0, 1}


def test_learning_rate_warms_up_then_decays_linearly() -> None:
    config = QLearningConfig(learning_rate=1.0, warmup_updates=4, total_updates=12)
    rates = [learning_rate_at(u, config) for u in range(13)]
    assert rates == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    )


# One state over four chunks: chunk 0 already retrieved, chunk 2 the missing fact.
LABEL_AVAILABLE = torch.tensor([[False, True, True, True]])
LABEL_EXPERT = torch.tensor([[False, False, True, False]])


def _label_loss(q1: list[float], q2: list[float], form: str, margin: float, temperature: float = 0.1):
    return label_loss(
        torch.tensor([q1]), torch.tensor([q2]), LABEL_AVAILABLE, LABEL_EXPERT, form, margin, temperature
    )


def test_the_margin_term_is_zero_when_the_missing_fact_leads_by_the_margin() -> None:
    # 2q: the fact at 0.8 and 0.6, the best other available chunk at 0.4 and 0.2; the
    # retrieved chunk's higher Q does not count
    loss = _label_loss([5.0, 0.2, 0.4, 0.1], [5.0, 0.1, 0.3, 0.0], "margin", margin=0.2)
    assert loss.item() == 0.0


def test_the_margin_term_charges_a_distractor_above_the_fact_by_its_lead_plus_the_margin() -> None:
    # half 1: relu(2*0.3 + 0.2 - 2*0.1) = 0.6; half 2: relu(2*0.0 + 0.2 - 2*0.2) = 0
    loss = _label_loss([0.0, 0.3, 0.1, 0.0], [0.0, -0.5, 0.2, 0.0], "margin", margin=0.2)
    assert loss.item() == pytest.approx(0.5 * (0.6 + 0.0))


def test_the_softmax_term_is_the_cross_entropy_of_the_facts_over_the_available_chunks() -> None:
    q = [0.0, 0.3, 0.1, 0.0]
    margin, temperature = 0.2, 0.5
    logits = [(2 * 0.3 + margin) / temperature, 2 * 0.1 / temperature, (0.0 + margin) / temperature]
    expected = -(logits[1] - math.log(sum(math.exp(x) for x in logits)))
    loss = _label_loss(q, q, "softmax", margin, temperature)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_the_label_term_with_several_missing_facts_needs_only_the_best_one_to_lead() -> None:
    available = torch.ones(1, 4, dtype=torch.bool)
    expert = torch.tensor([[True, False, True, False]])
    q = torch.tensor([[-1.0, 0.1, 0.5, 0.0]])  # the second fact leads every other chunk
    assert label_loss(q, q, available, expert, "margin", 0.2, 0.1).item() == 0.0


def test_reference_defaults() -> None:
    config = QLearningConfig()
    assert (config.gamma, config.lam, config.alpha, config.tau, config.top_k) == (
        0.99,
        0.65,
        0.01,
        0.1,
        5,
    )
    assert (config.learning_rate, config.warmup_updates, config.total_updates) == (
        5e-5,
        1000,
        50_000,
    )
    assert config.num_envs * config.num_steps == 64
    assert config.label_loss == "none"  # the reference learns from the reward alone
    assert (config.max_steps, config.max_grad_norm, config.adam_betas) == (
        6,
        2.0,
        (0.9, 0.98),
    )
