"""Plain data of the memory: what every layer passes around, and its one JSON shape.

No dependencies here, so every other module (and the HTTP and widget faces)
can import it cheaply. Each record has ``to_dict`` and ``from_dict``: the server,
the Jupyter handlers and the remote client all speak these shapes, so the
encoding and decoding sides cannot drift apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# The wire: what a Motörhead server accepts per POST, and upstream's page limit.
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_PAGE = 100

# The one role table. Roles are stored as given (free text); these are the spellings
# that mean the human, the AI and the system, and LangChain's message types for them.
HUMAN, AI, SYSTEM = "Human", "AI", "System"
_ROLE_KINDS = {"human": "human", "user": "human", "ai": "ai", "assistant": "ai",
               "system": "system"}
LANGCHAIN_ROLES = {"human": HUMAN, "ai": AI, "system": SYSTEM, "tool": "Tool",
                   "function": "Function"}


def role_kind(role: str) -> str:
    """``"human"``, ``"ai"``, ``"system"`` or ``"other"`` for a stored role."""
    return _ROLE_KINDS.get(role.lower(), "other")


def content_text(content: Any) -> str:
    """The text of a message's content: a string, a list of content blocks (strings or
    ``{"text": ...}`` dicts; other blocks, such as images, have no text), or a message."""
    content = getattr(content, "content", content)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) if isinstance(b, dict)
                       else "" for b in content)
    return "" if content is None else str(content)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class NewMessage:
    """A validated message on its way into a store (seq and time are assigned there)."""

    role: str
    content: str
    tokens: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One stored message of a session's append-only log."""

    session_id: str
    seq: int
    role: str
    content: str
    tokens: int
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    summarized: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "role": self.role,
            "content": self.content,
            "tokens": self.tokens,
            "created_at": self.created_at.isoformat(),
            "metadata": self.metadata,
            "summarized": self.summarized,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(data["session_id"], data["seq"], data["role"], data["content"],
                   data["tokens"], _time(data["created_at"]), data.get("metadata") or {},
                   bool(data.get("summarized")))


@dataclass(frozen=True)
class Hit:
    """A message found by a search, with its score (higher = closer). The score's scale
    depends on the ranking: BM25 for words, cosine for meaning, fused rank for both."""

    message: Message
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.message.to_dict(), "score": self.score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        return cls(Message.from_dict(data), float(data["score"]))


@dataclass(frozen=True)
class SearchResult:
    """A search's hits and how they were found: ``ranking`` is the one that ranked them
    (``keyword`` | ``semantic`` | ``hybrid``: words when meaning was asked for but the
    embedder failed), ``note`` says why it fell back or what was not searched yet."""

    hits: list[Hit]
    ranking: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "ranking": self.ranking,
                "note": self.note}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        return cls([Hit.from_dict(h) for h in data["hits"]], data.get("ranking") or "keyword",
                   data.get("note"))


@dataclass(frozen=True)
class Summary:
    """One fold (or a client-supplied context): covers messages up to ``through_seq``."""

    session_id: str
    through_seq: int
    context: str
    tokens_used: int
    created_at: datetime
    # The LLM calls that made it: model, input_tokens, output_tokens, latency_ms, calls
    # (empty for a context a client supplied).
    usage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "through_seq": self.through_seq,
            "context": self.context,
            "tokens_used": self.tokens_used,
            "created_at": self.created_at.isoformat(),
            "usage": self.usage,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(data["session_id"], data["through_seq"], data["context"],
                   data["tokens_used"], _time(data["created_at"]), data.get("usage") or {})


@dataclass(frozen=True)
class MemoryView:
    """What a prompt needs: the window (chronological), the running summary, token spend."""

    session_id: str
    messages: list[Message]
    context: str | None
    tokens: int
    summary: Summary | None = None

    @property
    def message_count(self) -> int:
        """Messages in the whole session: seqs are dense (0..n-1), so the newest message
        (or the summary point, with an empty window) tells the count without a scan."""
        if self.messages:
            return self.messages[-1].seq + 1
        if self.summary is not None:
            return self.summary.through_seq + 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The window chronologically with every field, the context and its summary."""
        return {
            "session_id": self.session_id,
            "messages": [m.to_dict() for m in self.messages],
            "context": self.context,
            "tokens": self.tokens,
            "summary": self.summary.to_dict() if self.summary else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryView:
        summary = data.get("summary")
        return cls(data["session_id"], [Message.from_dict(m) for m in data["messages"]],
                   data.get("context"), data.get("tokens") or 0,
                   Summary.from_dict(summary) if summary else None)


@dataclass(frozen=True)
class SessionInfo:
    """Counts of one session, for listings (sidebar, panel picker, sessions DataFrame)."""

    session_id: str
    messages: int
    summaries: int
    last_write: datetime
    window_tokens: int
    parent: str | None = None  # the session this one was forked from
    forked_at: int | None = None  # the parent's last message copied into the fork

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "messages": self.messages,
            "summaries": self.summaries,
            "last_write": self.last_write.isoformat(),
            "window_tokens": self.window_tokens,
            "parent": self.parent,
            "forked_at": self.forked_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionInfo:
        return cls(data["session_id"], data["messages"], data["summaries"],
                   _time(data["last_write"]), data["window_tokens"], data.get("parent"),
                   data.get("forked_at"))


@dataclass(frozen=True)
class FoldProgress:
    """Background summarization of one session, as it stands now (for status lines,
    the panel, the sidebar and ``wait``)."""

    session_id: str
    state: str  # "summarizing" | "retrying" | "waiting" (another worker holds the lease)
    chunk: int = 0  # LLM calls done in this step
    chunks: int = 0  # LLM calls this step needs (0 before the step is planned)
    backlog: int = 0  # messages still to fold, this step included
    error: str | None = None  # why the last attempt failed
    retry_at: datetime | None = None

    def describe(self) -> str:
        """One line, e.g. ``summarizing big-session, chunk 3/26 (1,180 messages to fold)``."""
        text = f"summarizing {self.session_id}"
        if self.state == "summarizing" and self.chunks:
            text += f", chunk {self.chunk + 1}/{self.chunks}"
        if self.backlog:
            text += f" ({self.backlog:,} messages to fold)"
        if self.state == "waiting":
            text = f"{self.session_id}: another worker is summarizing it"
        if self.state == "retrying":
            seconds = ""
            if self.retry_at is not None:
                left = (self.retry_at - datetime.now(tz=timezone.utc)).total_seconds()
                seconds = f" in {max(0, round(left))} s"
            text = f"summary of {self.session_id} failed ({self.error}); retrying{seconds}"
        return text


def utc_from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)


def now_micros() -> int:
    """Microseconds since the epoch (UTC), exact (no float rounding), cheap."""
    return time.time_ns() // 1000
