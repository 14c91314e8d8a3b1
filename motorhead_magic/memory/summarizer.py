"""The progressive summary: previous summary + new lines -> new summary, chunk by chunk.

The prompt is filled with ``str.replace`` rather than ``str.format`` so that
braces in messages (JSON, code) or in a user's prompt can never break it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput, SummaryFailed
from ..records import Message, content_text
from .deadline import call_with_deadline
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
# One fold step makes at most this many LLM calls; a longer backlog is folded in
# several steps (each lands as a summary), so a huge write cannot cost hundreds of calls
# in one go, and progress is visible and kept between steps.
MAX_CHUNKS_PER_FOLD = 4
# An LLM call that has not answered by then has failed (the fold is retried later).
CALL_TIMEOUT = 120.0

# True while a summary call runs: a shared model (the local one) lets interactive
# chat turns go ahead of these background calls.
IN_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar("motorhead_background",
                                                                     default=False)

# A zero-argument function returning the Summarizer to use, called at each fold, so
# the model can follow a notebook's current choice without reconnecting.
SummarizerFactory = Callable[[], "Summarizer"]
ChunkListener = Callable[[int, int], None]  # (chunks done, chunks in this step)


def check_prompt(prompt: str) -> str:
    missing = [p for p in ("{summary}", "{new_lines}") if p not in prompt]
    if missing:
        raise InvalidInput(f"summary prompt lacks {' and '.join(missing)}")
    return prompt


def clip(text: str, budget: int) -> str:
    """At most about ``budget`` tokens of ``text``, for a summary prompt only (the log
    keeps every message whole)."""
    if count_tokens(text) <= budget:
        return text
    cut = text[: budget * 4]  # cl100k averages ~4 characters a token
    while cut and count_tokens(cut) > budget - 16:  # room for the note
        cut = cut[: len(cut) * 3 // 4]
    return f"{cut} [... {len(text) - len(cut):,} more characters not summarized]"


def format_lines(messages: Sequence[Message], budget: int = CHUNK_TOKENS) -> list[str]:
    """``Role: content`` lines, each clipped to one chunk so that one huge message costs
    one LLM call, not hundreds."""
    return [clip(f"{m.role}: {m.content}", budget) for m in messages]


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


def _invoke_with_deadline(model: Any, text: str, timeout: float) -> Any:
    """``model.invoke(text)``, abandoned after ``timeout`` seconds, as a background call."""

    def call() -> Any:
        IN_BACKGROUND.set(True)
        return model.invoke(text)

    return call_with_deadline(call, timeout, "motorhead-summary-call",
                              lambda why: SummaryFailed(f"summary model {why}"))


class Summarizer:
    """Folds lines into a running summary with a LangChain chat model (called from the
    engine's worker thread, so it never touches a kernel's event loop).

    :meth:`resolved_at_fold` makes one that asks a factory for the real one at each
    fold (model, prompt and budget together)."""

    def __init__(self, model: Any, prompt: str = DEFAULT_SUMMARY_PROMPT,
                 chunk_tokens: int = CHUNK_TOKENS, *, max_chunks: int = MAX_CHUNKS_PER_FOLD,
                 timeout: float = CALL_TIMEOUT) -> None:
        self.model = model
        self.prompt = check_prompt(prompt)
        self.chunk_tokens = chunk_tokens
        self.max_chunks = max_chunks
        self.timeout = timeout
        self.factory: SummarizerFactory | None = None

    @classmethod
    def resolved_at_fold(cls, factory: SummarizerFactory) -> Summarizer:
        summarizer = cls(None)
        summarizer.factory = factory
        return summarizer

    def resolve(self) -> Summarizer:
        """The summarizer that does the work now (this one, or the factory's)."""
        return self if self.factory is None else self.factory()

    def render(self, summary: str | None, lines: Sequence[str]) -> str:
        return render(self.prompt, summary, lines)

    def step(self, messages: Sequence[Message]) -> int:
        """How many leading ``messages`` one fold step takes: as many as fit in
        ``max_chunks`` chunks, and at least one."""
        budget, used, chunks = self.chunk_tokens, 0, 1
        for index, line in enumerate(format_lines(messages, budget)):
            cost = count_tokens(line)
            if used and used + cost > budget:
                chunks, used = chunks + 1, 0
            if chunks > self.max_chunks:
                return max(index, 1)
            used += cost
        return len(messages)

    def fold(self, summary: str | None, messages: Sequence[Message],
             on_chunk: ChunkListener | None = None) -> Folded:
        """The new summary, the LLM tokens spent making it, and the usage of its calls."""
        if self.factory is not None:
            return self.resolve().fold(summary, messages, on_chunk)
        spent = input_tokens = output_tokens = 0
        started = time.perf_counter()
        chunks = chunk_lines(format_lines(messages, self.chunk_tokens), self.chunk_tokens)
        for done, chunk in enumerate(chunks):
            if on_chunk is not None:
                on_chunk(done, len(chunks))
            text_in = self.render(summary, chunk)
            reply = _invoke_with_deadline(self.model, text_in, self.timeout)
            text = content_text(reply).strip()
            if not text:
                raise SummaryFailed("summary model returned an empty summary")
            usage = getattr(reply, "usage_metadata", None) or {}
            used_in = usage.get("input_tokens") or count_tokens(text_in)
            used_out = usage.get("output_tokens") or count_tokens(text)
            input_tokens, output_tokens = input_tokens + used_in, output_tokens + used_out
            spent += usage.get("total_tokens") or used_in + used_out
            summary = text
        usage_record = {"model": model_name(self.model), "input_tokens": input_tokens,
                        "output_tokens": output_tokens, "calls": len(chunks),
                        "latency_ms": round((time.perf_counter() - started) * 1000, 3)}
        return Folded(summary or "", spent, usage_record)


def model_name(model: Any) -> str:
    """A short name for a chat model in the ledger (never a key)."""
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


@dataclass(frozen=True)
class Folded:
    """What one fold step produced."""

    context: str
    tokens_used: int  # Motörhead's number: LLM tokens spent summarizing
    usage: dict[str, Any]


def as_summarizer(model_or_summarizer: Any) -> Summarizer | None:
    if model_or_summarizer is None or isinstance(model_or_summarizer, Summarizer):
        return model_or_summarizer
    if not hasattr(model_or_summarizer, "invoke"):
        raise InvalidInput(
            f"summarizer must be a LangChain chat model, got {type(model_or_summarizer).__name__}"
        )
    return Summarizer(model_or_summarizer)
