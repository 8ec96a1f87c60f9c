"""The Q-function: Q(s, a_i) = <E_state(s), Rot(H(E_action(chunk_i)), rho_t(i))>, twice.

Two encoders start from the same pretrained weights: one embeds the state (question
plus retrieved chunks), the other each chunk. In the paper's setting both are trained;
with `frozen_action_encoder` the action encoder keeps its pretrained weights, so a
chunk's embedding depends on its text alone and is computed once for every run and
checkpoint, and an optional small head H (`action_head`) is what the action side
learns. Chunk embeddings do not depend on the state either way, so a caller embeds a
document once (`action_encoder.encode`) and, as the retrieved set grows, only maps and
re-rotates them (`positioned_actions`): a policy step costs one state encoding plus N
dot products. The embedding is split into two halves whose dot products are two Q
estimates (twin heads, a cheap double-Q); the policy uses their sum.

With `lexical_weight` set, each estimate also gets w_h * overlap(s, chunk_i), the
idf-weighted term overlap of `models.lexical` (w_h learned, one per twin half, starting
at `lexical_weight`): a content channel the rotation cannot scramble, for chunks that
differ only in rare tokens (UUID needles). The overlap depends on texts alone, so the
caller computes it once per state (`LexicalIndex.scores`) and passes it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.models.action_head import build_action_head
from qrag_pipeline.models.encoder import DEFAULT_ENCODER, TextEncoder
from qrag_pipeline.models.positions import check_position_mode, chunk_positions
from qrag_pipeline.models.rotary import rotate

TWIN_HEADS = 2
ARCHITECTURE = (
    "position_mode",
    "step_size",
    "rotary_base",
    "frozen_action_encoder",
    "action_head",
    "rotary_fraction",
    "lexical_weight",
    "chunk_budget",
)
"""QNetwork's settings beside its two encoders, as `config()` saves them; the first
three are in every checkpoint, the others were added later (a checkpoint without one
was made at its default)."""


class QNetwork(torch.nn.Module):
    """A state encoder, an action encoder (with an optional head) and the positional
    rotation between them."""

    def __init__(
        self,
        state_encoder: TextEncoder,
        action_encoder: TextEncoder,
        position_mode: str = "relative",
        step_size: float = 20.0,
        rotary_base: float = 10000.0,
        frozen_action_encoder: bool = False,
        action_head: str = "none",
        rotary_fraction: float = 1.0,
        lexical_weight: float | None = None,
        chunk_budget: int = 64,
    ) -> None:
        super().__init__()
        check_position_mode(position_mode)
        if not isinstance(chunk_budget, int) or isinstance(chunk_budget, bool) or chunk_budget < 1:
            raise QragInputError(
                f"chunk_budget must be a whole number of tokens >= 1, got {chunk_budget!r}. "
                "Fix: set train_q.model.chunk_budget to e.g. 64."
            )
        if state_encoder.dim != action_encoder.dim or state_encoder.dim % (2 * TWIN_HEADS):
            raise QragInputError(
                f"state and action encoders must share one embedding size divisible by "
                f"{2 * TWIN_HEADS} (twin halves of rotated pairs); got "
                f"{state_encoder.dim} and {action_encoder.dim}."
            )
        self.state_encoder = state_encoder
        self.action_encoder = action_encoder
        self.position_mode = position_mode
        self.step_size = step_size
        self.rotary_base = rotary_base
        self.rotary_fraction = rotary_fraction
        self.frozen_action_encoder = frozen_action_encoder
        self.action_head_kind = action_head
        self.action_head = build_action_head(action_head, action_encoder.dim, TWIN_HEADS)
        if frozen_action_encoder:
            self.action_encoder.requires_grad_(False)
        self.chunk_budget = chunk_budget
        self.lexical_start = lexical_weight
        self.lexical_weight = (
            None
            if lexical_weight is None
            else torch.nn.Parameter(torch.full((TWIN_HEADS,), float(lexical_weight)))
        )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_ENCODER,
        *,
        num_layers: int | None = None,
        scale: float = 0.1,
        max_length: int = 128,
        trust_remote_code: bool = False,
        **architecture: Any,
    ) -> QNetwork:
        """Both encoders loaded from the same weights, as two independent copies;
        `architecture` holds the constructor's keywords (`ARCHITECTURE`)."""
        unknown = sorted(set(architecture) - set(ARCHITECTURE))
        if unknown:
            raise QragInputError(
                f"unknown Q-network settings {unknown}. Fix: use only the encoder's "
                f"(name_or_path, num_layers, scale, max_length, trust_remote_code) and {list(ARCHITECTURE)}."
            )
        state_encoder, action_encoder = (
            TextEncoder.from_pretrained(
                name_or_path,
                num_layers=num_layers,
                scale=scale,
                max_length=max_length,
                trust_remote_code=trust_remote_code,
            )
            for _ in range(2)
        )
        return cls(state_encoder, action_encoder, **architecture)

    def config(self) -> dict[str, Any]:
        """The keyword arguments of `from_pretrained` that rebuild this architecture.

        Weights are saved separately (state_dict); loading them into
        `QNetwork.from_pretrained(**config)` restores the network.
        """
        encoder = self.state_encoder.encoder_config()
        if encoder != self.action_encoder.encoder_config():
            raise QragInputError(
                "the state and action encoders were built differently "
                f"({encoder} vs {self.action_encoder.encoder_config()}), which one "
                "from_pretrained configuration cannot describe. Fix: build both with "
                "QNetwork.from_pretrained."
            )
        return {
            **encoder,
            "position_mode": self.position_mode,
            "step_size": self.step_size,
            "rotary_base": self.rotary_base,
            "frozen_action_encoder": self.frozen_action_encoder,
            "action_head": self.action_head_kind,
            "rotary_fraction": self.rotary_fraction,
            "lexical_weight": self.lexical_start,
            "chunk_budget": self.chunk_budget,
        }

    def trainable_parameters(self, top_layers: int | None = None) -> list[torch.nn.Parameter]:
        """Set which weights train and return them, in module order (the optimiser's).

        All of them by default; with `top_layers`, only the last `top_layers`
        transformer layers of each trained encoder, the action head and the lexical
        weight. A frozen action encoder never trains.
        """
        self.requires_grad_(top_layers is None)
        trained = [self.state_encoder]
        if self.frozen_action_encoder:
            self.action_encoder.requires_grad_(False)
        else:
            trained.append(self.action_encoder)
        if top_layers is not None:
            if self.action_head is not None:
                self.action_head.requires_grad_(True)
            if self.lexical_weight is not None:
                self.lexical_weight.requires_grad_(True)
            for encoder in trained:
                encoder.train_top_layers(top_layers)
        return [parameter for parameter in self.parameters() if parameter.requires_grad]

    def state_text(
        self,
        question: str,
        chunks: Sequence[str],
        retrieved: Sequence[int],
    ) -> str:
        """`question [SEP] chunk_a [SEP] chunk_b ...`, the chunks in document order,
        each cut to `chunk_budget` tokens.

        Document order (not retrieval order) makes the state the same whichever order
        the facts were found in; the budget keeps one long chunk from crowding out the
        others within the encoder's max_length. It is part of what Q means (the states
        it was trained on), so the network holds it and its checkpoint saves it.
        """
        parts = [question] + [
            self.state_encoder.truncate(chunks[i], self.chunk_budget)
            for i in sorted(int(i) for i in retrieved)
        ]
        return f" {self.state_encoder.sep_token} ".join(parts)

    def mapped_actions(self, action_embeddings: Tensor) -> Tensor:
        """Action-encoder outputs [..., D] through the head (unchanged without one)."""
        if self.action_head is None:
            return action_embeddings
        return self.action_head(action_embeddings)

    def positioned_actions(self, action_embeddings: Tensor, retrieved: Tensor) -> Tensor:
        """Action-encoder outputs [N, D], through the head and rotated by their
        positions given `retrieved`."""
        positions = chunk_positions(
            self.position_mode, action_embeddings.shape[-2], retrieved, self.step_size
        )
        return self.rotated_actions(action_embeddings, positions)

    def rotated_actions(self, action_embeddings: Tensor, positions: Tensor) -> Tensor:
        """Action-encoder outputs [..., N, D] through the head, rotated by `positions`."""
        return rotate(
            self.mapped_actions(action_embeddings),
            positions,
            n_halves=TWIN_HEADS,
            base=self.rotary_base,
            fraction=self.rotary_fraction,
        )

    def twin_q(self, state_embeddings: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """The two Q estimates (q1, q2), each [B, N].

        `state_embeddings` is [B, D]; `actions` (positioned chunk embeddings) is
        [B, N, D], one set per state, or [N, D] shared by all states. Each estimate is
        the dot product over one half of the dimensions.
        """
        s1, s2 = state_embeddings.unsqueeze(-1).chunk(TWIN_HEADS, dim=-2)
        a1, a2 = actions.chunk(TWIN_HEADS, dim=-1)
        return torch.matmul(a1, s1).squeeze(-1), torch.matmul(a2, s2).squeeze(-1)

    def with_lexical(self, q1: Tensor, q2: Tensor, lexical: Tensor | None) -> tuple[Tensor, Tensor]:
        """(q1, q2) plus each twin half's weight times `lexical` (same shape: the
        states' term overlap with the scored chunks); unchanged without the channel."""
        if self.lexical_weight is None:
            return q1, q2
        if lexical is None:
            raise QragInputError(
                "this Q-network has a lexical channel (lexical_weight) but was given no "
                "term overlaps. Fix: pass LexicalIndex(chunks).scores(states) as `lexical`."
            )
        lexical = lexical.to(q1.device)
        return q1 + self.lexical_weight[0] * lexical, q2 + self.lexical_weight[1] * lexical

    def chunk_twin_q(
        self,
        state_embedding: Tensor,
        chunk_embeddings: Tensor,
        retrieved: Sequence[int],
        lexical: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The two Q estimates (q1, q2), each [N], of every chunk of one document for
        one state [D], given the chunks retrieved so far (scored too: masking them is
        the caller's) and, with the lexical channel, the state's term overlap [N] with
        each chunk.

        `chunk_embeddings` [N, D] are the action encoder's outputs made once per
        document; only their positions depend on `retrieved`. Training and inference
        both come here through `retrieval.scoring.ScoredDocument.twin_q`.
        """
        taken = torch.tensor(list(retrieved), dtype=torch.long)
        actions = self.positioned_actions(chunk_embeddings.to(state_embedding.device), taken)
        q1, q2 = self.twin_q(state_embedding.reshape(1, -1), actions)
        return self.with_lexical(q1[0], q2[0], lexical)
