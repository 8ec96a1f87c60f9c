"""A reader that asks a Hugging Face causal language model for a short answer.

The model sees the question and only the retrieved chunks, one per line in document
order. Decoding is greedy, so the same retrieval always yields the same answer and a
reader's accuracy measures the retrieval, not sampling luck. Chat models get their own
chat template (Qwen3's thinking is switched off: the answer must fit in a few tokens);
base models get a plain "Context / Question / Answer:" prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import transformers
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.readers import retrieved_in_document_order

_LOAD_ERRORS = (OSError, ValueError, SafetensorError)
_INSTRUCTION = "Answer with a single word or a short phrase, nothing else."

ReaderItem = tuple[str, Sequence[str], Sequence[int]]


class LLMReader:
    """Greedy short answers from a causal LM over retrieved chunks."""

    def __init__(
        self,
        model: transformers.PreTrainedModel,
        tokenizer: transformers.PreTrainedTokenizerBase,
        max_new_tokens: int = 16,
    ) -> None:
        if max_new_tokens < 1:
            raise QragInputError(
                f"reader max_new_tokens must be at least 1, got {max_new_tokens}. "
                "Fix: allow the reader a few tokens (16 fits short answers)."
            )
        _pad_on_the_left(tokenizer)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self._chat = bool(getattr(tokenizer, "chat_template", None))
        self._generation = _greedy_config(model, tokenizer, max_new_tokens)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        max_new_tokens: int = 16,
        trust_remote_code: bool = False,
        device: str | None = None,
    ) -> LLMReader:
        """Load a causal LM and its tokenizer; `device` defaults to CUDA when present.

        Remote code stays off unless asked for, since it runs code from the model
        folder. A folder that cannot be loaded raises `QragInputError`.
        """
        path = str(name_or_path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code)
        except _LOAD_ERRORS as err:
            raise QragInputError(
                f"cannot load the reader model at {path!r} ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else 'no detail'}). Fix: give "
                "a local folder with config.json, the weights and the tokenizer files "
                "of a causal language model (as saved by save_pretrained), or use the "
                "rule reader for bAbI."
            ) from err
        target = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(model.to(target), tokenizer, max_new_tokens=max_new_tokens)

    def prompt(self, question: str, chunks: Sequence[str], retrieved: Sequence[int]) -> str:
        """What the model continues: retrieved chunks in document order, question."""
        context = "\n".join(retrieved_in_document_order(chunks, retrieved))
        if not self._chat:
            return f"Context:\n{context}\nQuestion: {question}\nAnswer:"
        message = f"Context:\n{context}\n\nQuestion: {question}\n{_INSTRUCTION}"
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": message}],
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=False,
        )

    def answer(self, question: str, chunks: Sequence[str], retrieved: Sequence[int]) -> str:
        """The first non-empty line the model writes, stripped ("" if none)."""
        return self.answer_batch([(question, chunks, retrieved)])[0]

    def answer_batch(self, items: Sequence[ReaderItem], *, batch_size: int = 8) -> list[str]:
        """`answer` for each (question, chunks, retrieved), `batch_size` at a time.

        With left padding and the attention mask, a batch gives the answers that
        one-by-one calls give.
        """
        if batch_size < 1:
            raise QragInputError(
                f"reader batch_size must be at least 1, got {batch_size}. Fix: pass a positive batch size."
            )
        prompts = [self.prompt(*item) for item in items]
        answers: list[str] = []
        for start in range(0, len(prompts), batch_size):
            answers.extend(self._generate(prompts[start : start + batch_size]))
        return answers

    def _generate(self, prompts: list[str]) -> list[str]:
        inputs = self.tokenizer(
            prompts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=not self._chat,
        ).to(self.model.device)
        prompt_ids = inputs["input_ids"]
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=prompt_ids,
                attention_mask=inputs["attention_mask"],
                generation_config=self._generation,
            )
        new_tokens = output[:, prompt_ids.shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [_first_line(text) for text in texts]


def _pad_on_the_left(tokenizer: transformers.PreTrainedTokenizerBase) -> None:
    """Left padding, so that in a batch every row's answer starts at the same column.

    Causal LMs often ship without a padding token (GPT-2); the end token then pads,
    which the attention mask hides anyway.
    """
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise QragInputError(
            f"the reader tokenizer {tokenizer.name_or_path!r} has neither a padding "
            "nor an end-of-text token, so answers cannot be batched. Fix: save the "
            "tokenizer with a pad_token or eos_token."
        )
    tokenizer.pad_token = tokenizer.eos_token


def _greedy_config(
    model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    max_new_tokens: int,
) -> GenerationConfig:
    """Greedy decoding that stops at the model's end tokens.

    Built from scratch rather than from the model's own generation config, which for
    chat models often asks for sampling (temperature, top-p).
    """
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
    )


def _first_line(text: str) -> str:
    """Models often open with a newline or go on after the answer: keep one line."""
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in lines if line), "")
