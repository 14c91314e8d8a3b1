"""The embedded store: one SQLite file, shared by every kernel and server on a machine.

WAL lets readers run beside a writer; ``BEGIN IMMEDIATE`` plus a busy timeout
serialises writers across processes, and each public write is one transaction.
Connections are per thread (and per process, so a fork never shares one).
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreUnavailable
from ..records import (
    MemoryView,
    Message,
    NewMessage,
    SessionInfo,
    Summary,
    now_micros,
    utc_from_micros,
)
from .base import EXPORT_COLUMNS, FoldState

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id    TEXT PRIMARY KEY,
    epoch         TEXT NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT -1,
    through_seq   INTEGER NOT NULL DEFAULT -1,
    summary_count INTEGER NOT NULL DEFAULT 0,
    tokens_used   INTEGER NOT NULL DEFAULT 0,
    context       TEXT,
    write_order   INTEGER NOT NULL,
    last_write    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_write ON sessions (write_order);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS summaries (
    session_id  TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    through_seq INTEGER NOT NULL,
    context     TEXT NOT NULL,
    tokens_used INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS namespaces (
    namespace   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    write_order INTEGER NOT NULL,
    PRIMARY KEY (namespace, session_id)
);
CREATE TABLE IF NOT EXISTS leases (
    session_id TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

MESSAGE_COLUMNS = "session_id, seq, role, content, tokens, created_at, metadata"


def _message(row: tuple, through_seq: int) -> Message:
    session_id, seq, role, content, tokens, created_at, metadata = row
    return Message(
        session_id=session_id,
        seq=seq,
        role=role,
        content=content,
        tokens=tokens,
        created_at=utc_from_micros(created_at),
        metadata=json.loads(metadata),
        summarized=seq <= through_seq,
    )


def _summary(row: tuple) -> Summary:
    session_id, through_seq, context, tokens_used, created_at = row
    return Summary(session_id, through_seq, context, tokens_used, utc_from_micros(created_at))


class SQLiteStore:
    """A :class:`~motorhead_magic.stores.base.Store` in one SQLite file."""

    fast_reads = True  # WAL readers never wait for writers; a window read is ~50 µs

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser().absolute()
        self.url = f"sqlite://{self.path.as_posix()}"
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Writers of this process queue here instead of in SQLite's busy handler, whose
        # sleeps (up to 100 ms each) made p99 of concurrent writes ~130 ms.
        self._write_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc

    # -- connections and transactions ------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn, pid = getattr(self._local, "conn", (None, None))
        if conn is None or pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = (conn, os.getpid())
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _transaction(self, mode: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute(f"BEGIN {mode}")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite store {self.path} is busy: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._transaction("IMMEDIATE") as conn:
            yield conn

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._transaction("DEFERRED")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- writes ----------------------------------------------------------------------

    def append(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        now = now_micros()
        with self._write() as c:
            next_order = "SELECT COALESCE(MAX(write_order), 0) + 1 FROM sessions"
            order = c.execute(next_order).fetchone()[0]
            row = c.execute(
                "SELECT last_seq, through_seq, summary_count FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                c.execute(
                    "INSERT INTO sessions (session_id, epoch, write_order, last_write)"
                    " VALUES (?, ?, ?, ?)",
                    (session_id, uuid.uuid4().hex, order, now),
                )
                row = (-1, -1, 0)
            last_seq, through_seq, summary_count = row
            if context is not None:
                c.execute(
                    "INSERT INTO summaries VALUES (?, ?, ?, ?, 0, ?)",
                    (session_id, summary_count, through_seq, context, now),
                )
                c.execute(
                    "UPDATE sessions SET context = ?, summary_count = summary_count + 1"
                    " WHERE session_id = ?",
                    (context, session_id),
                )
            c.executemany(
                f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (session_id, last_seq + 1 + i, m.role, m.content, m.tokens, now,
                     json.dumps(m.metadata))
                    for i, m in enumerate(messages)
                ],
            )
            last_seq += len(messages)
            c.execute(
                "UPDATE sessions SET last_seq = ?, write_order = ?, last_write = ?"
                " WHERE session_id = ?",
                (last_seq, order, now, session_id),
            )
            if namespace is not None:
                c.execute(
                    "INSERT INTO namespaces VALUES (?, ?, ?) ON CONFLICT (namespace, session_id)"
                    " DO UPDATE SET write_order = excluded.write_order",
                    (namespace, session_id, order),
                )
        return last_seq

    def delete(self, session_id: str) -> None:
        with self._write() as c:
            for table in ("messages", "summaries", "namespaces", "sessions"):
                c.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))

    def add_summary(
        self, session_id: str, epoch: str, expected_count: int, through_seq: int,
        context: str, tokens_used: int,
    ) -> bool:
        with self._write() as c:
            row = c.execute(
                "SELECT epoch, summary_count, last_seq FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None or row[0] != epoch or row[1] != expected_count or through_seq > row[2]:
                return False
            c.execute(
                "INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, expected_count, through_seq, context, tokens_used, now_micros()),
            )
            c.execute(
                "UPDATE sessions SET through_seq = ?, context = ?,"
                " summary_count = summary_count + 1, tokens_used = tokens_used + ?"
                " WHERE session_id = ?",
                (through_seq, context, tokens_used, session_id),
            )
        return True

    def acquire_lease(self, session_id: str, seconds: float) -> str | None:
        token, now = uuid.uuid4().hex, time.time()
        with self._write() as c:
            cursor = c.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE"
                " SET token = excluded.token, expires_at = excluded.expires_at"
                " WHERE leases.expires_at < ?",
                (session_id, token, now + seconds, now),
            )
            return token if cursor.rowcount == 1 else None

    def release_lease(self, session_id: str, token: str) -> None:
        with self._write() as c:
            c.execute("DELETE FROM leases WHERE session_id = ? AND token = ?", (session_id, token))

    # -- reads -----------------------------------------------------------------------

    def fold_state(self, session_id: str) -> FoldState | None:
        row = self._conn().execute(
            "SELECT epoch, last_seq, through_seq, summary_count, context FROM sessions"
            " WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        return FoldState(*row) if row else None

    def view(self, session_id: str, limit: int) -> MemoryView:
        with self._read() as c:
            row = c.execute(
                "SELECT last_seq, through_seq, summary_count, tokens_used, context FROM sessions"
                " WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                return MemoryView(session_id, [], None, 0)
            last_seq, through_seq, summary_count, tokens_used, context = row
            rows = c.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND seq > ?"
                " ORDER BY seq",
                (session_id, max(through_seq, last_seq - limit)),
            ).fetchall()
            summary_row = c.execute(
                "SELECT session_id, through_seq, context, tokens_used, created_at FROM summaries"
                " WHERE session_id = ? AND idx = ?",
                (session_id, summary_count - 1),
            ).fetchone()
        messages = [_message(r, through_seq) for r in rows]
        summary = _summary(summary_row) if summary_row else None
        return MemoryView(session_id, messages, context, tokens_used, summary)

    async def aview(self, session_id: str, limit: int) -> MemoryView:
        """Inline: a local read is sub-millisecond, cheaper than a thread hop."""
        return self.view(session_id, limit)

    def history(self, session_id: str, start: int = 0, limit: int | None = None) -> list[Message]:
        with self._read() as c:
            row = c.execute(
                "SELECT through_seq FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return []
            rows = c.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND seq >= ?"
                " ORDER BY seq LIMIT ?",
                (session_id, start, -1 if limit is None else limit),
            ).fetchall()
        return [_message(r, row[0]) for r in rows]

    def summaries(self, session_id: str) -> list[Summary]:
        rows = self._conn().execute(
            "SELECT session_id, through_seq, context, tokens_used, created_at FROM summaries"
            " WHERE session_id = ? ORDER BY idx",
            (session_id,),
        ).fetchall()
        return [_summary(r) for r in rows]

    def session_ids(self, namespace: str | None = None) -> list[str]:
        if namespace is None:
            rows = self._conn().execute("SELECT session_id FROM sessions ORDER BY write_order")
        else:
            rows = self._conn().execute(
                "SELECT session_id FROM namespaces WHERE namespace = ? ORDER BY write_order",
                (namespace,),
            )
        return [r[0] for r in rows]

    def session_infos(self, window_size: int,
                      ids: Sequence[str] | None = None) -> list[SessionInfo]:
        query = (
            "SELECT s.session_id, s.last_seq + 1, s.summary_count, s.last_write,"
            " (SELECT COALESCE(SUM(m.tokens), 0) FROM messages m WHERE m.session_id = s.session_id"
            "  AND m.seq > MAX(s.through_seq, s.last_seq - ?)), s.write_order FROM sessions s"
        )
        if ids is None:
            rows = self._conn().execute(query + " ORDER BY s.write_order", (window_size,))
        else:
            wanted = list(dict.fromkeys(ids))
            rows = []
            for i in range(0, len(wanted), 500):  # stay far below SQLite's variable limit
                chunk = wanted[i : i + 500]
                marks = ", ".join("?" * len(chunk))
                rows += self._conn().execute(
                    f"{query} WHERE s.session_id IN ({marks})", (window_size, *chunk)
                ).fetchall()
            rows.sort(key=lambda r: r[5])
        return [SessionInfo(r[0], r[1], r[2], utc_from_micros(r[3]), r[4]) for r in rows]

    def export_columns(self, session_id: str | None = None) -> dict[str, list[Any]]:
        where, params = ("WHERE m.session_id = ?", (session_id,)) if session_id else ("", ())
        with _gc_paused():  # a million row tuples would otherwise trigger many full GC passes
            rows = self._conn().execute(
                "SELECT m.session_id, m.seq, m.role, m.content, m.tokens, m.created_at,"
                " m.metadata, m.seq <= s.through_seq FROM messages m JOIN sessions s"
                f" USING (session_id) {where} ORDER BY m.session_id, m.seq",
                params,
            ).fetchall()
            columns = dict(zip(EXPORT_COLUMNS, map(list, zip(*rows)))) if rows else {
                name: [] for name in EXPORT_COLUMNS
            }
            del rows
            columns["metadata"] = _parse_metadata(columns["metadata"])
            columns["summarized"] = [bool(s) for s in columns["summarized"]]
        return columns


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_metadata(raw: list[str]) -> list[dict[str, Any]]:
    """Distinct dicts, one per row; the non-empty ones parsed in one ``json.loads`` call
    (one call per row costs about 4x more on a million rows)."""
    parsed: list[dict[str, Any]] = [{} for _ in raw]
    filled = [i for i, text in enumerate(raw) if text != "{}"]
    if filled:
        values = json.loads("[" + ",".join([raw[i] for i in filled]) + "]")
        for i, value in zip(filled, values):
            parsed[i] = value
    return parsed
