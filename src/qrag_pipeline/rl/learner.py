"""Soft Q-learning with lambda-returns, on-policy in the style of PQN (docs/method.md).

Several retrieval episodes step side by side; every `num_steps` steps the rollout's
`num_steps x num_envs` transitions give one gradient step on the twin TD loss against
Q(lambda) targets, with no replay buffer. The next states' values in the targets come
from a Polyak-averaged copy of both encoders (the reference) or, as in PQN, from the
online network itself (`targets`). Optionally (`label_loss`) a supervised term on the
supporting facts is added, on the same visited states: the facts still missing are the
right next picks.

The pieces the tests call one by one come first (`lambda_returns`, `soft_value`,
`td_loss`, `label_loss`, `polyak_update`, the behaviour policy, the schedule). `QLearner` then reads
in the order of one update: `update` itself, then `collect_rollout` (acting, with
`_soft_values` of the next states), `loss` (the TD term on `taken_q`, the label
term on `labelled_q`, both with gradient) and `optimizer_step`; after them the helpers
they share, the state for resuming, and the guards. `train` drives it to the end.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from qrag_pipeline.checkpoints import tensors_with_prefix
from qrag_pipeline.episodes import Episode, EpisodeSampler
from qrag_pipeline.errors import QragInputError, TrainingDivergedError
from qrag_pipeline.models.positions import chunk_positions
from qrag_pipeline.models.q_network import QNetwork
from qrag_pipeline.retrieval.chunk_table import ChunkTable
from qrag_pipeline.retrieval.embeddings import EpisodeEmbeddings
from qrag_pipeline.retrieval.scoring import ScoredDocument
from qrag_pipeline.rl.config import QLearningConfig
from qrag_pipeline.rl.environment import EpisodeOutcome, RetrievalEnv
from qrag_pipeline.rl.inference import fact_em_rate, greedy_rollout
from qrag_pipeline.rl.ranks import SINGLE_PROCESS, Ranks, average_gradients
from qrag_pipeline.seeding import derive_seed

UPDATE_PARTS = ("chunk_embedding", "policy", "environment", "target", "loss", "optimizer")
"""The parts of an update whose wall seconds `QLearner.update` reports (see there)."""
RANK_OWN_TENSORS = ("chunks.", "behaviour_rng")
"""The prefixes of `QLearner.state_dict`'s tensors that are each rank's own (its
episodes in progress, its behaviour sampler); the weights and AdamW's moments are the
same on every rank."""


def lambda_returns(rewards: Tensor, dones: Tensor, next_values: Tensor, gamma: float, lam: float) -> Tensor:
    """Q(lambda) targets [T, E], computed backwards over one rollout.

    G_t = r_t + gamma * nextnonterminal_t * ((1 - lam) * V(s_t+1) + lam * G_t+1),
    where `next_values[t]` is V(s_t+1) and `dones[t]` says the episode ended at step t
    (so G_t = r_t). The last step has no G_t+1 inside the rollout and bootstraps on its
    next value alone.
    """
    returns = torch.zeros_like(rewards)
    next_return = next_values[-1]
    for t in reversed(range(rewards.shape[0])):
        nextnonterminal = 1.0 - dones[t].float()
        next_value = next_values[t]
        returns[t] = rewards[t] + gamma * nextnonterminal * ((1 - lam) * next_value + lam * next_return)
        next_return = returns[t]
    return returns


def top_k_mask(q: Tensor, available: Tensor, top_k: int) -> Tensor:
    """The `top_k` available actions of highest `q` (all available ones if fewer)."""
    best = q.masked_fill(~available, -torch.inf).topk(min(top_k, q.shape[-1]), dim=-1).indices
    return torch.zeros_like(available).scatter(-1, best, True) & available


def soft_value(q: Tensor, available: Tensor, alpha: float, top_k: int) -> Tensor:
    """alpha * logsumexp(q / alpha) over the top_k available actions; 0 if none is left.

    Restricting the soft maximum to the top k keeps hundreds of near-equal distractors
    from inflating the value of a long document (their log-count would add to it).
    """
    keep = top_k_mask(q, available, top_k)
    value = alpha * torch.logsumexp((q / alpha).masked_fill(~keep, -torch.inf), dim=-1)
    return torch.where(keep.any(dim=-1), value, torch.zeros_like(value))


def td_loss(q1_taken: Tensor, q2_taken: Tensor, returns: Tensor) -> Tensor:
    """Twin-head TD loss: each half's estimate, doubled, regresses to the target."""
    loss1 = F.mse_loss(2 * q1_taken, returns)
    loss2 = F.mse_loss(2 * q2_taken, returns)
    return 0.5 * loss1 + 0.5 * loss2


def label_loss(
    q1: Tensor,
    q2: Tensor,
    available: Tensor,
    expert: Tensor,
    form: str,
    margin: float,
    temperature: float,
) -> Tensor:
    """The supervised term on the supporting facts, per twin half, averaged over rows.

    Each row [N] is one visited state: `available` its pickable chunks, `expert` those
    of them that are missing supporting facts (every row has one). Q is taken at the TD
    loss's scale (2 * each half). "margin" is DQfD's large-margin loss with a set of
    expert actions: relu(max over other available chunks of (Q + margin) - max over
    the missing facts of Q), zero once the best fact leads every other chunk by the
    margin. "softmax" is the multi-positive cross-entropy -log(sum over the facts of
    p), p the softmax over the available chunks of (Q + margin off the facts) /
    temperature.
    """
    others = available & ~expert
    halves = []
    for q in (2 * q1, 2 * q2):
        if form == "margin":
            best_other = (q + margin).masked_fill(~others, -torch.inf).amax(dim=-1)
            best_fact = q.masked_fill(~expert, -torch.inf).amax(dim=-1)
            gap = torch.where(others.any(dim=-1), best_other - best_fact, torch.zeros_like(best_fact))
            halves.append(F.relu(gap))
        else:
            logits = (q + margin * others.float()) / temperature
            facts = torch.logsumexp(logits.masked_fill(~expert, -torch.inf), dim=-1)
            every = torch.logsumexp(logits.masked_fill(~available, -torch.inf), dim=-1)
            halves.append(every - facts)
    return 0.5 * (halves[0] + halves[1]).mean()


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * online, parameter by parameter, in place.

    Frozen parameters are skipped: they are equal in both networks and stay so.
    """
    pairs = [
        (target_parameter, online_parameter)
        for target_parameter, online_parameter in zip(target.parameters(), online.parameters(), strict=True)
        if online_parameter.requires_grad
    ]
    if pairs:
        targets, onlines = zip(*pairs, strict=True)
        torch._foreach_lerp_(list(targets), list(onlines), tau)


def behaviour_actions(
    q: Tensor, available: Tensor, alpha: float, top_k: int, generator: torch.Generator
) -> Tensor:
    """One action per row [E] drawn from softmax((q - max q) / alpha) over the top k."""
    logits = q.masked_fill(~top_k_mask(q, available, top_k), -torch.inf)
    probabilities = ((logits - logits.amax(dim=-1, keepdim=True)) / alpha).softmax(-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def random_actions(available: Tensor, generator: torch.Generator) -> Tensor:
    """One uniformly random available action per row [E] (exploration at the start)."""
    return torch.multinomial(available.float(), 1, generator=generator).squeeze(-1)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype `precision` asks for on `device` (None: plain float32).

    "auto" takes bfloat16 where the hardware computes it natively: every CUDA GPU this
    project targets, and CPUs whose oneDNN has bfloat16 kernels (AVX-512 or AMX);
    elsewhere bfloat16 would be emulated, slower than float32.
    """
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    native = device.type == "cuda" or (device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return torch.bfloat16 if native else None


def learning_rate_at(update: int, config: QLearningConfig) -> float:
    """Linear warm-up to `learning_rate`, then linear decay to 0 at `total_updates`.

    Update u of the warm-up uses (u + 1) / warmup_updates of the peak, so no update
    has a zero rate (alpha, tied to it, must stay positive).
    """
    if update < config.warmup_updates:
        return config.learning_rate * (update + 1) / config.warmup_updates
    remaining = config.total_updates - update
    decay_span = max(1, config.total_updates - config.warmup_updates)
    return config.learning_rate * max(0.0, remaining / decay_span)


@dataclass(frozen=True)
class LabelledState:
    """One visited state as the label term reads it: its document's chunk embeddings
    [N, D] (shared with the env, not copied), the chunks retrieved before the pick, the
    supporting facts still missing (empty once all are found: the term skips the state)
    and the lexical overlaps [N]."""

    chunks: Tensor
    retrieved: tuple[int, ...]
    missing: tuple[int, ...]
    lexical: Tensor | None


@dataclass
class Rollout:
    """What the loss needs of each transition of one rollout, indexed [step][env]: the
    state text, the taken chunk (its text, its vector as the policy scored it, its
    position then and its lexical overlap), the Q the policy saw for it, the reward,
    whether the episode ended there and the target's soft value of the next state;
    and, for the label term, the visited state as `LabelledState` (None when the term
    is off). Overwritten in place by each `collect_rollout`."""

    states: list[list[str]]
    chunk_texts: list[list[str]]
    chunk_vectors: Tensor
    positions: Tensor
    q_taken: Tensor
    lexical_taken: Tensor
    rewards: Tensor
    dones: Tensor
    next_values: Tensor
    labelled: list[list[LabelledState | None]]

    @classmethod
    def empty(cls, num_steps: int, num_envs: int, dim: int) -> Rollout:
        shape = (num_steps, num_envs)
        return cls(
            states=[[""] * num_envs for _ in range(num_steps)],
            chunk_texts=[[""] * num_envs for _ in range(num_steps)],
            chunk_vectors=torch.zeros(*shape, dim),
            positions=torch.zeros(shape),
            q_taken=torch.zeros(shape),
            lexical_taken=torch.zeros(shape),
            rewards=torch.zeros(shape),
            dones=torch.zeros(shape, dtype=torch.bool),
            next_values=torch.zeros(shape),
            labelled=[[None] * num_envs for _ in range(num_steps)],
        )

    def returns(self, gamma: float, lam: float) -> Tensor:
        """The Q(lambda) targets [num_steps, num_envs] of the rollout's transitions."""
        return lambda_returns(self.rewards, self.dones, self.next_values, gamma, lam)


class QLearner:
    """The online Q-network, its target copy (`targets="target_network"`), AdamW and
    the environments it acts in.

    The policy acts with the online state encoder (no gradient) and the chunk
    embeddings made at each episode's reset; in this synchronous loop that encoder is
    exactly the reference's "hard copy after each optimiser step", so no copy is kept.
    Dropout stays off throughout (eval mode), so the Q the loss regresses is the same
    function the policy and the target evaluate.

    The action side comes in two kinds. With the paper's trained action encoder, each
    new document's chunks are encoded by the online and by the target action encoder
    at its reset, and the taken chunks are encoded again with gradient for the loss.
    With a frozen action encoder, a chunk's vector depends on its text alone: it is
    looked up in a `ChunkTable` of `pool_embeddings` (the training pools embedded once
    by the frozen encoder, in the embed stage), online and target share it, and only
    the head and the rotation are applied per step; the loss's gradient then flows
    through the state encoder and the head.

    Among data-parallel processes (`ranks`), each rank draws its own episodes and
    behaviour samples (from `rank_seed`) and the gradients are averaged over the ranks
    before each optimiser step (`average_gradients`), so every rank keeps the same
    weights; rank 0 of one process is the single-process learner exactly.
    """

    def __init__(
        self,
        network: QNetwork,
        sampler: EpisodeSampler,
        config: QLearningConfig,
        device: torch.device,
        pool_embeddings: EpisodeEmbeddings | None = None,
        ranks: Ranks = SINGLE_PROCESS,
    ) -> None:
        self.config = config
        self.device = device
        self.ranks = ranks
        seed = rank_seed(config.seed, ranks.rank)
        self.network = network.to(device).eval()
        self.target = (
            copy.deepcopy(self.network).requires_grad_(False) if config.targets == "target_network" else None
        )
        self.trainable_parameters = self.network.trainable_parameters(
            config.trainable_layers if config.trainable == "top_layers" else None
        )
        self.optimizer = torch.optim.AdamW(
            self.trainable_parameters,
            lr=learning_rate_at(0, config),
            betas=config.adam_betas,
            eps=config.adam_eps,
            weight_decay=config.weight_decay,
            fused=True,
        )
        self.chunk_table = _chunk_table(self.network, pool_embeddings)
        self.part_seconds = dict.fromkeys(UPDATE_PARTS, 0.0)
        self.env = RetrievalEnv(
            sampler,
            config.num_envs,
            config.max_steps,
            seed,
            config.terminate_on_success,
            config.per_fact_reward,
            config.extra_step_penalty,
        )
        self.generator = torch.Generator().manual_seed(derive_seed(seed, "behaviour"))
        self.updates = 0
        # Each env's chunk embeddings under the online and the target action encoder
        # (one tensor for both when the action encoder is frozen or there is no target).
        self.online_chunks: list[Tensor] = []
        self.target_chunks: list[Tensor] = []
        for progress in self.env.progress:
            online, target = self._embed_chunks(progress.episode.chunks)
            self.online_chunks.append(online)
            self.target_chunks.append(target)
        # Each env's question and document as Q scores them (its words indexed for the
        # lexical channel at the reset).
        self.documents = [self._scored_document(p.episode) for p in self.env.progress]

        self.rollout = Rollout.empty(config.num_steps, config.num_envs, self.network.action_encoder.dim)

    def update(self) -> dict[str, float]:
        """Collect rollouts, take one optimiser step, move the target; give metrics.

        The metrics include `seconds_<part>` for each of `UPDATE_PARTS`: making chunk
        embeddings at resets, the policy's state encodings and choices, the
        environments' steps (building new episodes), the target network's values
        (online targets: the last step's next states alone), the loss (forward and
        backward) and the optimiser step with the Polyak update. (On a
        GPU, work still queued when a part ends is counted in a later part.)
        """
        start = time.perf_counter()
        before = dict(self.part_seconds)
        config = self.config
        if self.updates >= config.total_updates:
            raise QragInputError(
                f"all {config.total_updates} updates are done (the learning rate and "
                "alpha have decayed to 0). Fix: raise total_updates to train on."
            )
        learning_rate = learning_rate_at(self.updates, config)
        schedule = learning_rate / config.learning_rate
        alpha = config.alpha * schedule
        margin = config.label_margin * (schedule if config.label_margin_decay else 1.0)
        explore = self.updates < config.learning_start
        finished: list[EpisodeOutcome] = []
        losses: list[tuple[float, float, float]] = []
        for _ in range(config.grad_accumulation):
            finished += self.collect_rollout(alpha, explore)
            returns = self.rollout.returns(config.gamma, config.lam)
            with self._timed("loss"):
                loss, loss_td, loss_labels = self.loss(returns, margin)
                losses.append((loss.item(), loss_td, loss_labels))
                self._check_finite("the loss", losses[-1][0])
                (loss / config.grad_accumulation).backward()
        grad_norm = self.optimizer_step(learning_rate)
        self.updates += 1
        seconds = time.perf_counter() - start
        transitions = config.grad_accumulation * self.rollout.rewards.numel()
        loss_mean, loss_td_mean, loss_labels_mean = np.mean(losses, axis=0).tolist()
        return {
            "update": float(self.updates),
            "loss": loss_mean,
            "loss_td": loss_td_mean,
            "loss_labels": loss_labels_mean,
            "label_margin": margin,
            "grad_norm": float(grad_norm),
            "mean_q": float(self.rollout.q_taken.mean()),
            "mean_target": float(returns.mean()),
            "episodes": float(len(finished)),
            "mean_return": _mean([outcome.episode_return for outcome in finished]),
            "fact_em": _mean([float(outcome.fact_em) for outcome in finished]),
            "alpha": alpha,
            "learning_rate": learning_rate,
            "random_actions": float(explore),
            "updates_per_s": 1.0 / seconds,
            "transitions_per_s": transitions / seconds,
            **{f"seconds_{part}": self.part_seconds[part] - before[part] for part in UPDATE_PARTS},
        }

    def collect_rollout(self, alpha: float, explore: bool) -> list[EpisodeOutcome]:
        """Step all envs `num_steps` times, filling the rollout storage; no gradient.

        `explore` picks uniformly random chunks; otherwise the behaviour policy
        samples at temperature `alpha`. Returns the episodes that finished meanwhile.
        """
        finished: list[EpisodeOutcome] = []
        every_env = range(self.config.num_envs)
        online_targets = self.target is None
        for step in range(self.config.num_steps):
            with self._timed("policy"):
                states = self._state_texts(every_env)
                with torch.no_grad():
                    with self._autocast():
                        state_embeddings = self.network.state_encoder.encode(states)
                    q1, q2, available, lexical = self._twin_q(
                        self.network, state_embeddings, states, self.online_chunks, every_env
                    )
                if online_targets and step > 0:
                    # These states are the last step's next states (an ended episode's
                    # is a new one's first, which its lambda-return does not read).
                    self.rollout.next_values[step - 1] = self._soft_values(q1, q2, available, alpha)
                q, available = (q1 + q2).cpu(), available.cpu()
                self._check_finite("a Q value", _first_non_finite(q[available]))
                if explore:
                    actions = random_actions(available, self.generator)
                else:
                    actions = behaviour_actions(q, available, alpha, self.config.top_k, self.generator)
                for env, action in enumerate(actions.tolist()):
                    progress = self.env.progress[env]
                    self.rollout.q_taken[step, env] = q[env, action]
                    self.rollout.states[step][env] = states[env]
                    self.rollout.chunk_texts[step][env] = progress.episode.chunks[action]
                    self.rollout.chunk_vectors[step, env] = self.online_chunks[env][action]
                    self.rollout.positions[step, env] = self._positions(env)[action]
                    if lexical is not None:
                        self.rollout.lexical_taken[step, env] = lexical[env, action]
                    if self.config.label_loss != "none":
                        self.rollout.labelled[step][env] = self._labelled_state(env, lexical)
            with self._timed("environment"):
                result = self.env.step(actions.tolist())
            self.rollout.rewards[step] = torch.from_numpy(result.rewards)
            self.rollout.dones[step] = torch.from_numpy(result.dones)
            for env in np.flatnonzero(result.dones).tolist():
                chunks = self.env.progress[env].episode.chunks
                self.online_chunks[env], self.target_chunks[env] = self._embed_chunks(chunks)
                self.documents[env] = self._scored_document(self.env.progress[env].episode)
            if not online_targets or step == self.config.num_steps - 1:
                with self._timed("target"):
                    self.rollout.next_values[step] = self._next_values(alpha, ~result.dones)
            finished += result.finished
        return finished

    @torch.no_grad()
    def _next_values(self, alpha: float, live: np.ndarray) -> Tensor:
        """Soft values [E] of the envs' current states (the last step's next states)
        under the target network, or the online one when there is none.

        Only the `live` envs' values are computed: an env whose episode ended this step
        holds a new episode's first state, whose value the Q(lambda) target of the
        ended one never reads (it is cut by `dones`); it gets 0.
        """
        values = torch.zeros(self.config.num_envs)
        envs = np.flatnonzero(live).tolist()
        if not envs:
            return values
        network = self.network if self.target is None else self.target
        states = self._state_texts(envs)
        with self._autocast():
            state_embeddings = network.state_encoder.encode(states)
        q1, q2, available, _ = self._twin_q(network, state_embeddings, states, self.target_chunks, envs)
        values[envs] = self._soft_values(q1, q2, available, alpha)
        return values

    def _soft_values(self, q1: Tensor, q2: Tensor, available: Tensor, alpha: float) -> Tensor:
        """The twin halves' soft values over the top k available chunks, summed [E]."""
        top_k = self.config.top_k
        return (soft_value(q1, available, alpha, top_k) + soft_value(q2, available, alpha, top_k)).cpu()

    def loss(self, returns: Tensor, margin: float) -> tuple[Tensor, float, float]:
        """The rollout's loss with gradient: TD + label_weight * the label term (the
        label term 0 when it is off or no visited state misses a fact); also each term's
        value. The states pass the online state encoder once, for both terms."""
        config = self.config
        state_embeddings = self.rollout_state_embeddings()
        q1, q2 = self.taken_q(state_embeddings)
        loss_td = td_loss(q1, q2, returns.flatten().to(self.device))
        labelled = self.labelled_q(state_embeddings) if config.label_loss != "none" else None
        if labelled is None:
            return loss_td, loss_td.item(), 0.0
        loss_labels = label_loss(*labelled, config.label_loss, margin, config.label_temperature)
        return loss_td + config.label_weight * loss_labels, loss_td.item(), loss_labels.item()

    def rollout_state_embeddings(self) -> Tensor:
        """The rollout's states [T*E, D] through the online state encoder, with
        gradient (batched by length)."""
        states = [text for row in self.rollout.states for text in row]
        with self._autocast():
            return self.network.state_encoder.embed(states)

    def taken_q(self, state_embeddings: Tensor) -> tuple[Tensor, Tensor]:
        """Twin Q [T*E] of the rollout's taken actions, with gradient.

        A taken chunk's vector is encoded again by the online action encoder when that
        one trains (the vectors made at reset carry no gradient), or taken as stored
        when it is frozen; either way it passes the head and is rotated by the
        position it had when taken. The lexical channel's overlaps depend on texts
        alone: those stored while acting are exact.
        """
        if self.network.frozen_action_encoder:
            vectors = self.rollout.chunk_vectors.flatten(0, 1).to(self.device)
        else:
            chunks = [text for row in self.rollout.chunk_texts for text in row]
            with self._autocast():
                vectors = self.network.action_encoder.embed(chunks)
        chunk_embeddings = self.network.rotated_actions(vectors.float(), self.rollout.positions.flatten())
        q1, q2 = self.network.twin_q(state_embeddings.float(), chunk_embeddings.unsqueeze(1))
        return self.network.with_lexical(q1[:, 0], q2[:, 0], self.rollout.lexical_taken.flatten())

    def labelled_q(self, state_embeddings: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """q1, q2, availability and the missing facts, each [B, N_max], of every chunk
        of the visited states that still miss a supporting fact (None: no such state),
        with gradient through the state side, the head and the lexical weights.

        The chunks are scored from the embeddings the policy scored them with (a
        trained action encoder's made at reset, without gradient: the label term then
        trains its state side alone), so the term costs no encoder pass of its own.
        """
        rows = [
            (index, state)
            for index, state in enumerate(state for row in self.rollout.labelled for state in row)
            if state is not None and state.missing
        ]
        if not rows:
            return None
        q1s, q2s, availables, experts = [], [], [], []
        for index, state in rows:
            q1, q2 = self.network.chunk_twin_q(
                state_embeddings[index].float(), state.chunks, state.retrieved, state.lexical
            )
            available = torch.ones(len(q1), dtype=torch.bool)
            available[list(state.retrieved)] = False
            expert = torch.zeros_like(available)
            expert[list(state.missing)] = True
            q1s.append(q1)
            q2s.append(q2)
            availables.append(available)
            experts.append(expert)
        return (
            pad_sequence(q1s, batch_first=True),
            pad_sequence(q2s, batch_first=True),
            pad_sequence(availables, batch_first=True).to(self.device),
            pad_sequence(experts, batch_first=True).to(self.device),
        )

    def optimizer_step(self, learning_rate: float) -> float:
        """Average the gradients over the ranks, clip them, take one AdamW step at
        `learning_rate`, move the target network (if any) towards the online one;
        return the gradient norm before clipping."""
        with self._timed("optimizer"):
            average_gradients(self.trainable_parameters, self.ranks)
            grad_norm = nn.utils.clip_grad_norm_(self.trainable_parameters, self.config.max_grad_norm)
            self._check_finite("the gradient norm", float(grad_norm))
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.target is not None:
                polyak_update(self.target, self.network, self.config.tau)
        return float(grad_norm)

    def _twin_q(
        self,
        network: QNetwork,
        state_embeddings: Tensor,
        states: Sequence[str],
        chunk_embeddings: Sequence[Tensor],
        envs: Sequence[int],
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """q1, q2, availability and the lexical overlaps (None without the channel),
        each [len(envs), N_max] (float32) for the given envs, padded to the longest
        document; `state_embeddings` and `states` hold one row per env."""
        q1s, q2s, masks, overlaps = [], [], [], []
        for row, env in enumerate(envs):
            progress = self.env.progress[env]
            q1, q2, lexical = self.documents[env].twin_q(
                network, states[row], state_embeddings[row], chunk_embeddings[env], progress.retrieved
            )
            q1s.append(q1.float())
            q2s.append(q2.float())
            masks.append(torch.from_numpy(progress.available))
            if lexical is not None:
                overlaps.append(lexical)
        return (
            pad_sequence(q1s, batch_first=True),
            pad_sequence(q2s, batch_first=True),
            pad_sequence(masks, batch_first=True).to(self.device),
            pad_sequence(overlaps, batch_first=True) if overlaps else None,
        )

    def _labelled_state(self, env: int, lexical: Tensor | None) -> LabelledState:
        """What the label term needs of env's current state (before its pick)."""
        progress = self.env.progress[env]
        retrieved = tuple(progress.retrieved)
        n_chunks = len(progress.episode.chunks)
        return LabelledState(
            chunks=self.online_chunks[env],
            retrieved=retrieved,
            missing=tuple(sorted(set(progress.episode.support) - set(retrieved))),
            lexical=None if lexical is None else lexical[env, :n_chunks],
        )

    def _positions(self, env: int) -> Tensor:
        """Positions [N] of env's chunks given what it has retrieved so far."""
        progress = self.env.progress[env]
        return chunk_positions(
            self.network.position_mode,
            len(progress.episode.chunks),
            torch.tensor(progress.retrieved, dtype=torch.long),
            self.network.step_size,
        )

    def _state_texts(self, envs: Sequence[int]) -> list[str]:
        return [
            self.documents[env].state_text(self.network, self.env.progress[env].retrieved) for env in envs
        ]

    def _embed_chunks(self, chunks: Sequence[str]) -> tuple[Tensor, Tensor]:
        """A new document's chunks [N, D] under the online and target action encoders
        (one tensor for both from the chunk table when the action encoder is frozen, or
        from the online encoder when there is no target network).

        Done once per episode: later steps only map and re-rotate these embeddings.
        """
        with self._timed("chunk_embedding"):
            if self.chunk_table is not None:
                vectors = self.chunk_table.lookup(chunks)
                return vectors, vectors
            with self._autocast():
                online = self.network.action_encoder.encode(chunks)
                target = online if self.target is None else self.target.action_encoder.encode(chunks)
            return online, target

    def _scored_document(self, episode: Episode) -> ScoredDocument:
        """A new episode's question and document, its words indexed for the lexical
        channel now (once per episode; counted with the chunk embeddings)."""
        with self._timed("chunk_embedding"):
            return ScoredDocument(episode.question, episode.chunks).indexed(self.network)

    def state_dict(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """What resuming needs: (named tensors, JSON-able values); nothing to pickle.

        Tensors: online and target weights (if any), AdamW moments, the chunk embeddings
        of the episodes in progress (one set per env when the action encoder is
        frozen, two otherwise), the behaviour sampler's state. Values: the update
        counter (which fixes the learning rate and alpha), AdamW's parameter groups,
        and the environments (episodes in progress and their generator).
        """
        tensors = {f"online.{k}": v for k, v in self.network.state_dict().items()}
        if self.target is not None:
            tensors |= {f"target.{k}": v for k, v in self.target.state_dict().items()}
        optimizer = self.optimizer.state_dict()
        for index, moments in optimizer["state"].items():
            tensors |= {f"optimizer.{index}.{k}": v for k, v in moments.items()}
        for env in range(self.config.num_envs):
            tensors[f"chunks.online.{env}"] = self.online_chunks[env]
            if self.target_chunks[env] is not self.online_chunks[env]:
                tensors[f"chunks.target.{env}"] = self.target_chunks[env]
        tensors["behaviour_rng"] = self.generator.get_state()
        values = {
            "updates": self.updates,
            "optimizer_param_groups": optimizer["param_groups"],
            "env": self.env.state_dict(),
        }
        return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, values

    def load_state_dict(self, tensors: Mapping[str, Tensor], values: Mapping[str, Any]) -> None:
        """Continue training exactly where `state_dict` was taken."""
        self.network.load_state_dict(tensors_with_prefix(tensors, "online."))
        if self.target is not None:
            self.target.load_state_dict(tensors_with_prefix(tensors, "target."))
        moments: dict[int, dict[str, Tensor]] = {}
        for key, value in tensors_with_prefix(tensors, "optimizer.").items():
            index, name = key.split(".", 1)
            moments.setdefault(int(index), {})[name] = value
        self.optimizer.load_state_dict({"state": moments, "param_groups": values["optimizer_param_groups"]})
        envs = range(self.config.num_envs)
        self.online_chunks = [tensors[f"chunks.online.{e}"].to(self.device) for e in envs]
        self.target_chunks = [
            tensors[f"chunks.target.{e}"].to(self.device) if f"chunks.target.{e}" in tensors else online
            for e, online in enumerate(self.online_chunks)
        ]
        self.generator.set_state(tensors["behaviour_rng"])
        self.env.load_state_dict(values["env"])
        self.documents = [self._scored_document(p.episode) for p in self.env.progress]
        self.updates = int(values["updates"])

    def _check_finite(self, what: str, value: float | None) -> None:
        """Stop the update when `value` is NaN or infinite (None: all was finite).

        The Q values the policy acts on, the loss and the gradient norm are checked
        before the optimiser step: one step on a NaN would write NaN into every weight
        (AdamW spreads it through the moments), and every later checkpoint would carry
        it. Stopping here saves nothing of the update, so the run's last checkpoint is
        its last good state. (The weights themselves are not scanned after the step:
        finite gradients and rates keep them finite, and a scan costs about as much as
        reading every weight once per update.)
        """
        if value is None or math.isfinite(value):
            return
        self.optimizer.zero_grad(set_to_none=True)
        raise TrainingDivergedError(
            f"training diverged: {what} is {value} at update {self.updates + 1} "
            "(the update stopped there and nothing of it was saved). Fix: lower "
            "train_q.learning.learning_rate (or max_grad_norm) and run again.",
            update=self.updates + 1,
        )

    @contextmanager
    def _timed(self, part: str) -> Iterator[None]:
        """Add the block's wall seconds to `part_seconds[part]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.part_seconds[part] += time.perf_counter() - start

    def _autocast(self) -> AbstractContextManager[None]:
        """The transformers' matrix products in `precision` (bfloat16: about twice the
        throughput on CUDA, 1.3-1.5x on a CPU with AVX-512 bf16). Only the encoders
        run under it: their pooled outputs, the head, the rotation and every Q value
        stay float32, so close Q values are told apart as in float32."""
        dtype = autocast_dtype(self.config.precision, self.device)
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank `rank`'s episodes and behaviour samples: the run's own for rank
    0 (so one process is the single-process learner), a stream derived from it for
    the others."""
    return seed if rank == 0 else derive_seed(seed, "rank", rank)


def _chunk_table(network: QNetwork, pool_embeddings: EpisodeEmbeddings | None) -> ChunkTable | None:
    """The table a frozen action encoder looks chunks up in (an empty one, encoding
    every chunk, without pool embeddings); None for a trained action encoder."""
    if not network.frozen_action_encoder:
        if pool_embeddings is not None:
            raise QragInputError(
                "training pool embeddings were given, but the Q-network trains its "
                "action encoder, whose chunk embeddings change at every update. Fix: "
                "set train_q.model.frozen_action_encoder: true, or train without them."
            )
        return None
    if pool_embeddings is None:
        return ChunkTable(network.action_encoder)
    return ChunkTable.from_embeddings(network.action_encoder, pool_embeddings)


def train(
    learner: QLearner,
    held_out: Sequence[Episode],
    after_update: Callable[[QLearner, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Update until `total_updates`; return every update's metrics, in order.

    Every `eval_every` updates the metrics gain `eval_fact_em`: greedy retrieval of
    `max_steps` chunks on the first `eval_episodes` held-out episodes (whose chunks a
    frozen action encoder looks up once, for the whole run). `after_update`
    (checkpointing, logging) runs after each update.
    """
    config = learner.config
    episodes = list(held_out[: config.eval_episodes])
    table = learner.chunk_table
    frozen_chunks = table.lookup_lists([e.chunks for e in episodes]) if table is not None else None
    history: list[dict[str, float]] = []
    while learner.updates < config.total_updates:
        metrics = learner.update()
        if episodes and learner.updates % config.eval_every == 0:
            retrieved = greedy_rollout(
                learner.network,
                episodes,
                config.max_steps,
                frozen_chunks,
            )
            metrics["eval_fact_em"] = fact_em_rate(episodes, retrieved)
        if after_update is not None:
            after_update(learner, metrics)
        history.append(metrics)
    return history


def _first_non_finite(*tensors: Tensor) -> float | None:
    """The first NaN or infinite element of `tensors`, or None when all are finite
    (one device synchronisation for all of them)."""
    tensors = tuple(t.detach() for t in tensors)
    finite = torch.stack([torch.isfinite(t).all() for t in tensors]).all()
    if bool(finite):
        return None
    for tensor in tensors:
        bad = tensor[~torch.isfinite(tensor)]
        if bad.numel():
            return float(bad.flatten()[0])
    return None


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")
