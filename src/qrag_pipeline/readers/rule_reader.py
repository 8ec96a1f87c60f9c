"""The rule-based bAbI reader behind the `Reader` protocol.

`answer_babi_question` needs the task to know the question forms, while the protocol
passes only question and chunks; the task is therefore fixed at construction, one
reader per task (they are stateless and cheap).
"""

from __future__ import annotations

from collections.abc import Sequence

from qrag_pipeline.readers import retrieved_in_document_order
from qrag_pipeline.readers.babi_rules import answer_babi_question
from qrag_pipeline.sources.babi_files import check_task


class RuleReader:
    """Exact reader for bAbI qa1-qa5: answers from the retrieved sentences only."""

    def __init__(self, task: str) -> None:
        self.task = check_task(task)

    def answer(self, question: str, chunks: Sequence[str], retrieved: Sequence[int]) -> str:
        """The one-word answer, or "" when the retrieved facts do not determine it."""
        sentences = retrieved_in_document_order(chunks, retrieved)
        return answer_babi_question(self.task, sentences, question).answer or ""
