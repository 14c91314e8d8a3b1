"""The storage protocol every backend implements (SQLite, Redis).

Stores are dumb and atomic: each method is one transaction (or one Lua
script). Writes of one process that wait at the same moment may share a
transaction or a round trip (group commit, ``group.py``), each still all or
nothing and acknowledged only once durable. Policy (window size, when to fold,
leases' length) lives in the engine. The two primitives that make folding safe
across processes are here: a lease (so one worker folds a session at a time)
and a compare-and-set on the summary list (so a fold lands only on the state it
was computed from, and never on a session deleted or re-created meanwhile:
``epoch`` changes then).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import Conflict
from ..records import MemoryView, Message, NewMessage, SessionInfo, Summary


@dataclass(frozen=True)
class FoldState:
    """A consistent snapshot of what a fold needs to decide and to commit."""

    epoch: str  # changes when a session is deleted and written again
    last_seq: int  # -1 when the session has no messages yet
    through_seq: int  # the current summary point, -1 without a summary
    summary_count: int  # the compare-and-set version of the summary list
    context: str | None  # the current summary's text


# One stored embedding: (seq, the embedder's name, float32 bytes).
VectorRow = tuple[int, str, bytes]

EXPORT_COLUMNS = ("session_id", "seq", "role", "content", "tokens", "created_at", "metadata",
                  "summarized")


def columns_from_messages(messages: Iterable[Message]) -> dict[str, list[Any]]:
    """The export columns of messages read one by one (backends without a bulk read)."""
    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    for message in messages:
        for name in EXPORT_COLUMNS:
            columns[name].append(getattr(message, name))
    columns["created_at"] = [int(t.timestamp() * 1_000_000) for t in columns["created_at"]]
    return columns


class Store(Protocol):
    """What the engine needs from a backend. All methods are blocking and thread-safe."""

    url: str  # printable (no password)
    fast_reads: bool  # reads are local and sub-millisecond: no thread hop needed

    def append(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        """Append in order (and first replace the current summary text by ``context``
        when given); returns the session's last seq. All or nothing, durable on return
        (concurrent appends may share one transaction)."""

    async def aappend(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        """``append`` for an event loop: awaited, without a thread of the caller's."""

    def view(self, session_id: str, limit: int) -> MemoryView:
        """The newest ``limit`` messages after the summary point, and the summary."""

    async def aview(self, session_id: str, limit: int) -> MemoryView:
        """``view`` for an event loop: inline on a local store, awaited over the network."""

    def history(self, session_id: str, start: int = 0, limit: int | None = None) -> list[Message]:
        """Messages with ``seq >= start``, chronological, at most ``limit``; any
        ``start`` past the log (even past a 64-bit integer) gives an empty list."""

    def summaries(self, session_id: str) -> list[Summary]: ...

    def session_ids(self, namespace: str | None = None) -> list[str]:
        """Ids by ascending last write."""

    def session_infos(self, window_size: int,
                      ids: Sequence[str] | None = None) -> list[SessionInfo]:
        """Counts of every session (or of those of ``ids`` that exist), by ascending
        last write. A page of a listing passes its ids, so its cost is the page's."""

    def delete(self, session_id: str) -> None: ...

    def fold_state(self, session_id: str) -> FoldState | None: ...

    def add_summary(
        self, session_id: str, epoch: str, expected_count: int, through_seq: int,
        context: str, tokens_used: int, usage: dict[str, Any] | None = None,
    ) -> bool:
        """Append a summary (with the ``usage`` of the calls that made it) iff the
        session still has ``epoch`` and exactly ``expected_count`` summaries; returns
        whether it landed."""

    def fork(self, session_id: str, new_id: str, at: int | None = None) -> int:
        """Copy the messages with ``seq <= at`` (default: all) and the summaries with
        ``through_seq <= at`` into the new session ``new_id``, recording its lineage;
        one transaction, inside the store. Returns the messages copied; raises
        :class:`~motorhead_magic.errors.Conflict` (via :func:`fork_refused`), writing
        nothing, for an unknown source, an existing ``new_id`` or an ``at`` beyond the
        log."""

    def renew_lease(self, session_id: str, token: str, seconds: float) -> bool:
        """Extend a lease this caller holds (a fold that makes progress keeps it);
        False if it expired and someone else may have it."""

    def acquire_lease(self, session_id: str, seconds: float) -> str | None:
        """A token if this caller now holds the session's fold lease, else None."""

    def release_lease(self, session_id: str, token: str) -> None: ...

    def search_words(self, session_id: str, text: str, limit: int,
                     before: int | None = None) -> list[tuple[Message, float]]:
        """At most ``limit`` messages of the session (with ``seq < before`` if given)
        sharing words with ``text``, best first by BM25 (higher = better); ``[]`` for an
        unknown session. Any text is safe: it is split into words, never parsed."""

    def messages_at(self, session_id: str, seqs: Sequence[int]) -> list[Message]:
        """The messages of these seqs that exist, in the order asked."""

    def vector_rows(self, session_id: str, start: int = 0) -> tuple[str | None, list[VectorRow]]:
        """The session's epoch (None: no such session) and its vectors with
        ``seq >= start``, by seq. Deleted with the session; copied by :meth:`fork`."""

    def add_vectors(self, session_id: str, epoch: str, rows: Sequence[VectorRow]) -> bool:
        """Store (or replace) vectors iff the session still has ``epoch``: an embedding
        that finishes after a delete never brings the session back."""

    def export_columns(self, session_id: str | None = None) -> dict[str, list[Any]]:
        """Every message (of one session or all) as columns named :data:`EXPORT_COLUMNS`,
        ``created_at`` in UTC microseconds; for fast DataFrame building."""

    def close(self) -> None:
        """Safe from any thread while others call: later calls raise
        :class:`~motorhead_magic.errors.StoreUnavailable` ("closed")."""


def fork_refused(reason: str, session_id: str, new_id: str, at: int | None) -> Conflict:
    """The one wording of a refused fork, whichever store refused it (an
    :class:`~motorhead_magic.errors.InvalidInput` that HTTP answers with 409)."""
    return Conflict({
        "no session": f"cannot fork {session_id!r}: no such session",
        "exists": f"cannot fork into {new_id!r}: that session already exists",
        "beyond": f"cannot fork {session_id!r} at #{at}: the log does not reach it",
    }.get(reason, f"cannot fork {session_id!r}: {reason}"))
