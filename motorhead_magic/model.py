"""Plain data of the memory: what every layer passes around.

No dependencies here, so every other module (and the HTTP and widget faces)
can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class MotorheadError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidInput(MotorheadError, ValueError):
    """The caller passed something we refuse to store; nothing was written."""


class StoreUnavailable(MotorheadError, ConnectionError):
    """The backing store (Redis, a remote server, the SQLite file) cannot be reached."""


class ModelUnavailable(MotorheadError):
    """No chat model could be resolved, or the chosen one cannot be used here."""


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


@dataclass(frozen=True)
class Summary:
    """One fold (or a client-supplied context): covers messages up to ``through_seq``."""

    session_id: str
    through_seq: int
    context: str
    tokens_used: int
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "through_seq": self.through_seq,
            "context": self.context,
            "tokens_used": self.tokens_used,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class MemoryView:
    """What a prompt needs: the window (chronological), the running summary, token spend."""

    session_id: str
    messages: list[Message]
    context: str | None
    tokens: int
    summary: Summary | None = None


@dataclass(frozen=True)
class SessionInfo:
    """Counts of one session, for listings (sidebar, panel picker, sessions DataFrame)."""

    session_id: str
    messages: int
    summaries: int
    last_write: datetime
    window_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "messages": self.messages,
            "summaries": self.summaries,
            "last_write": self.last_write.isoformat(),
            "window_tokens": self.window_tokens,
        }


def utc_from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)


def now_micros() -> int:
    return int(datetime.now(tz=timezone.utc).timestamp() * 1_000_000)
