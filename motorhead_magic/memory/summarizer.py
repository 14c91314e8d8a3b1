"""The progressive summary: previous summary + new lines -> new summary, chunk by chunk.

The prompt is filled with ``str.replace`` rather than ``str.format`` so that
braces in messages (JSON, code) or in a user's prompt can never break it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidInput, SummaryFailed
from ..records import Message, content_text
from .tokens import count_tokens

DEFAULT_SUMMARY_PROMPT = """\
Progressively summarize the lines of conversation provided, adding onto the previous \
summary and returning a new summary. If the lines are meaningless, return NONE.

EXAMPLE
Current summary:
The human asks which band Lemmy Kilmister led. The AI answers Motörhead.

New lines of conversation:
Human: When did they form?
AI: Motörhead formed in London in 1975.

New summary:
The human asks which band Lemmy Kilmister led and when it formed. The AI answers \
Motörhead, formed in London in 1975.
END OF EXAMPLE

Current summary:
{summary}

New lines of conversation:
{new_lines}

New summary:
"""

# Upstream Motörhead's budget per call: lines up to ~3,350 tokens (512 tokens out, a
# cap the chat layer puts on the model itself).
CHUNK_TOKENS = 3350

# A zero-argument function returning the Summarizer to use, called at each fold, so
# the model can follow a notebook's current choice without reconnecting.
SummarizerFactory = Callable[[], "Summarizer"]


def check_prompt(prompt: str) -> str:
    missing = [p for p in ("{summary}", "{new_lines}") if p not in prompt]
    if missing:
        raise InvalidInput(f"summary prompt lacks {' and '.join(missing)}")
    return prompt


def format_lines(messages: Sequence[Message]) -> list[str]:
    return [f"{m.role}: {m.content}" for m in messages]


def chunk_lines(lines: Sequence[str], budget: int) -> list[list[str]]:
    """Group lines, in order, into chunks of at most ``budget`` tokens; a line longer
    than the budget is cut into pieces rather than dropped."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line in lines:
        pieces = [line]
        if count_tokens(line) > budget:
            width = budget * 3  # characters per piece; cl100k averages ~4 chars a token
            pieces = [line[i : i + width] for i in range(0, len(line), width)]
        for piece in pieces:
            cost = count_tokens(piece)
            if current and used + cost > budget:
                chunks.append(current)
                current, used = [], 0
            current.append(piece)
            used += cost
    if current:
        chunks.append(current)
    return chunks


def render(prompt: str, summary: str | None, lines: Sequence[str]) -> str:
    return prompt.replace("{summary}", summary or "").replace("{new_lines}", "\n".join(lines))


class Summarizer:
    """Folds lines into a running summary with a LangChain chat model (called synchronously,
    from the engine's worker thread, so it never touches a kernel's event loop).

    :meth:`resolved_at_fold` makes one that asks a factory for the real one at each
    fold (model, prompt and budget together)."""

    def __init__(self, model: Any, prompt: str = DEFAULT_SUMMARY_PROMPT,
                 chunk_tokens: int = CHUNK_TOKENS) -> None:
        self.model = model
        self.prompt = check_prompt(prompt)
        self.chunk_tokens = chunk_tokens
        self.factory: SummarizerFactory | None = None

    @classmethod
    def resolved_at_fold(cls, factory: SummarizerFactory) -> Summarizer:
        summarizer = cls(None)
        summarizer.factory = factory
        return summarizer

    def render(self, summary: str | None, lines: Sequence[str]) -> str:
        return render(self.prompt, summary, lines)

    def fold(self, summary: str | None, messages: Sequence[Message]) -> tuple[str, int]:
        """The new summary and the LLM tokens spent making it."""
        if self.factory is not None:
            return self.factory().fold(summary, messages)
        spent = 0
        for chunk in chunk_lines(format_lines(messages), self.chunk_tokens):
            text_in = self.render(summary, chunk)
            try:
                reply = self.model.invoke(text_in)
            except Exception as exc:
                raise SummaryFailed(f"summary model failed: {exc}") from exc
            text = content_text(reply).strip()
            if not text:
                raise SummaryFailed("summary model returned an empty summary")
            usage = getattr(reply, "usage_metadata", None) or {}
            spent += usage.get("total_tokens") or count_tokens(text_in) + count_tokens(text)
            summary = text
        return summary or "", spent


def as_summarizer(model_or_summarizer: Any) -> Summarizer | None:
    if model_or_summarizer is None or isinstance(model_or_summarizer, Summarizer):
        return model_or_summarizer
    if not hasattr(model_or_summarizer, "invoke"):
        raise InvalidInput(
            f"summarizer must be a LangChain chat model, got {type(model_or_summarizer).__name__}"
        )
    return Summarizer(model_or_summarizer)
