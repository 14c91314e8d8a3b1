"""The embedded store: the :class:`~motorhead_magic.stores.base.Store` queries over one
SQLite file (``sqlite_file.py`` opens it and runs the transactions; ``sqlite_schema.py``
holds the tables and how an older file is brought up to them).
"""

from __future__ import annotations

import gc
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..records import (
    MemoryView,
    Message,
    NewMessage,
    SessionInfo,
    Summary,
    now_micros,
    utc_from_micros,
)
from . import words
from .base import EXPORT_COLUMNS, FoldState, VectorRow, fork_refused
from .sqlite_file import SQLiteFile
from .sqlite_schema import MESSAGE_COLUMNS, SUMMARY_COLUMNS

INT64_MAX = 2**63 - 1  # SQLite's largest integer: a seq or a count never exceeds it


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
    session_id, through_seq, context, tokens_used, created_at, usage = row
    return Summary(session_id, through_seq, context, tokens_used, utc_from_micros(created_at),
                   json.loads(usage) if usage else {})


class SQLiteStore(SQLiteFile):
    """A :class:`~motorhead_magic.stores.base.Store` in one SQLite file."""

    fast_reads = True  # WAL readers never wait for writers; a window read is ~50 µs

    # -- writes ----------------------------------------------------------------------

    def append(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        return self._write(self._append_run(session_id, messages, context, namespace))

    async def aappend(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        return await self._awrite(self._append_run(session_id, messages, context, namespace))

    def _append_run(self, session_id: str, messages: Sequence[NewMessage], context: str | None,
                    namespace: str | None) -> Callable[[sqlite3.Connection], int]:
        """One append, as a function of the transaction's connection."""
        rows = [(m.role, m.content, m.tokens, json.dumps(m.metadata) if m.metadata else "{}")
                for m in messages]

        def run(c: sqlite3.Connection) -> int:
            now = now_micros()  # in the transaction: created_at follows seq across appends
            next_order = "SELECT COALESCE(MAX(write_order), 0) + 1 FROM sessions"
            order = c.execute(next_order).fetchone()[0]
            row = c.execute(
                "SELECT last_seq, through_seq, summary_count, epoch FROM sessions"
                " WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                row = (-1, -1, 0, uuid.uuid4().hex)
                c.execute(
                    "INSERT INTO sessions (session_id, epoch, write_order, last_write)"
                    " VALUES (?, ?, ?, ?)",
                    (session_id, row[3], order, now),
                )
            last_seq, through_seq, summary_count, epoch = row
            if context is not None:
                c.execute(
                    "INSERT INTO summaries (session_id, idx, through_seq, context, tokens_used,"
                    " created_at) VALUES (?, ?, ?, ?, 0, ?)",
                    (session_id, summary_count, through_seq, context, now),
                )
                c.execute(
                    "UPDATE sessions SET context = ?, summary_count = summary_count + 1"
                    " WHERE session_id = ?",
                    (context, session_id),
                )
            c.executemany(
                f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(session_id, last_seq + 1 + i, role, content, tokens, now, metadata)
                 for i, (role, content, tokens, metadata) in enumerate(rows)],
            )
            words.insert(c, epoch, session_id,
                         [(last_seq + 1 + i, row[1]) for i, row in enumerate(rows)])
            last_seq += len(rows)
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

        return run

    def delete(self, session_id: str) -> None:
        def run(c: sqlite3.Connection) -> None:
            row = c.execute("SELECT epoch FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()
            if row is not None:
                words.drop(c, row[0])
            for table in ("messages", "summaries", "namespaces", "vectors", "sessions"):
                c.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))

        self._write(run)

    def add_summary(
        self, session_id: str, epoch: str, expected_count: int, through_seq: int,
        context: str, tokens_used: int, usage: dict[str, Any] | None = None,
    ) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "SELECT epoch, summary_count, last_seq FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None or row[0] != epoch or row[1] != expected_count or through_seq > row[2]:
                return False
            c.execute(
                f"INSERT INTO summaries (idx, {SUMMARY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (expected_count, session_id, through_seq, context, tokens_used, now_micros(),
                 json.dumps(usage or {})),
            )
            c.execute(
                "UPDATE sessions SET through_seq = ?, context = ?,"
                " summary_count = summary_count + 1, tokens_used = tokens_used + ?"
                " WHERE session_id = ?",
                (through_seq, context, tokens_used, session_id),
            )
            return True

        return self._write(run)

    def acquire_lease(self, session_id: str, seconds: float) -> str | None:
        token = uuid.uuid4().hex

        def run(c: sqlite3.Connection) -> str | None:
            now = time.time()
            cursor = c.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE"
                " SET token = excluded.token, expires_at = excluded.expires_at"
                " WHERE leases.expires_at < ?",
                (session_id, token, now + seconds, now),
            )
            return token if cursor.rowcount == 1 else None

        return self._write(run)

    def renew_lease(self, session_id: str, token: str, seconds: float) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            now = time.time()  # an expired lease is not renewed: someone may hold it now
            cursor = c.execute("UPDATE leases SET expires_at = ? WHERE session_id = ? AND"
                               " token = ? AND expires_at >= ?",
                               (now + seconds, session_id, token, now))
            return cursor.rowcount == 1

        return self._write(run)

    def fork(self, session_id: str, new_id: str, at: int | None = None) -> int:
        """Rows copied inside SQLite (INSERT ... SELECT): a 10,000-message fork never
        round-trips its messages through Python."""

        def run(c: sqlite3.Connection) -> int:
            source = c.execute("SELECT last_seq FROM sessions WHERE session_id = ?",
                               (session_id,)).fetchone()
            if source is None:
                raise fork_refused("no session", session_id, new_id, at)
            if c.execute("SELECT 1 FROM sessions WHERE session_id = ?", (new_id,)).fetchone():
                raise fork_refused("exists", session_id, new_id, at)
            point = source[0] if at is None else at
            if point > source[0]:
                raise fork_refused("beyond", session_id, new_id, at)
            c.execute(f"INSERT INTO messages ({MESSAGE_COLUMNS}) SELECT ?, seq, role, content,"
                      " tokens, created_at, metadata FROM messages WHERE session_id = ? AND"
                      " seq <= ?", (new_id, session_id, point))
            c.execute(f"INSERT INTO summaries (idx, {SUMMARY_COLUMNS}) SELECT idx, ?,"
                      " through_seq, context, tokens_used, created_at, usage FROM summaries"
                      " WHERE session_id = ? AND through_seq <= ?", (new_id, session_id, point))
            last = c.execute("SELECT COUNT(*), COALESCE(SUM(tokens_used), 0) FROM summaries"
                             " WHERE session_id = ?", (new_id,)).fetchone()
            current = c.execute("SELECT through_seq, context FROM summaries WHERE session_id = ?"
                                " ORDER BY idx DESC LIMIT 1", (new_id,)).fetchone()
            through, context = current if current else (-1, None)
            order = c.execute("SELECT COALESCE(MAX(write_order), 0) + 1 FROM sessions"
                              ).fetchone()[0]
            epoch = uuid.uuid4().hex
            c.execute("INSERT INTO sessions (session_id, epoch, last_seq, through_seq,"
                      " summary_count, tokens_used, context, write_order, last_write, parent,"
                      " forked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (new_id, epoch, point, through, last[0], last[1], context,
                       order, now_micros(), session_id, point))
            c.execute("INSERT INTO message_words (content, scope, session_id, seq) SELECT"
                      " content, ?, session_id, seq FROM messages WHERE session_id = ?",
                      (words.scope_token(epoch), new_id))
            c.execute("INSERT INTO vectors SELECT ?, seq, model, vector FROM vectors"
                      " WHERE session_id = ? AND seq <= ?", (new_id, session_id, point))
            return point + 1

        return self._write(run)

    def release_lease(self, session_id: str, token: str) -> None:
        def run(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM leases WHERE session_id = ? AND token = ?", (session_id, token))

        self._write(run)

    def add_vectors(self, session_id: str, epoch: str, rows: Sequence[VectorRow]) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT epoch, last_seq FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()
            if row is None or row[0] != epoch:
                return False  # deleted (and maybe written again) meanwhile: not its vectors
            c.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                          [(session_id, seq, model, blob) for seq, model, blob in rows
                           if seq <= row[1]])
            return True

        return self._write(run)

    # -- reads -----------------------------------------------------------------------

    def search_words(self, session_id: str, text: str, limit: int,
                     before: int | None = None) -> list[tuple[Message, float]]:
        with self._read() as c:
            row = c.execute("SELECT epoch, through_seq FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()
            if row is None:
                return []
            found = words.search(c, row[0], session_id, text, limit, before)
            messages = self._messages_at(c, session_id, [seq for seq, _ in found], row[1])
        return [(messages[seq], score) for seq, score in found if seq in messages]

    def messages_at(self, session_id: str, seqs: Sequence[int]) -> list[Message]:
        with self._read() as c:
            row = c.execute("SELECT through_seq FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()
            if row is None:
                return []
            found = self._messages_at(c, session_id, seqs, row[0])
        return [found[seq] for seq in seqs if seq in found]

    @staticmethod
    def _messages_at(c: sqlite3.Connection, session_id: str, seqs: Sequence[int],
                     through_seq: int) -> dict[int, Message]:
        found: dict[int, Message] = {}
        wanted = [seq for seq in dict.fromkeys(seqs) if 0 <= seq <= INT64_MAX]
        for i in range(0, len(wanted), 500):  # stay far below SQLite's variable limit
            chunk = wanted[i : i + 500]
            rows = c.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?"
                             f" AND seq IN ({', '.join('?' * len(chunk))})",
                             (session_id, *chunk)).fetchall()
            found.update((r[1], _message(r, through_seq)) for r in rows)
        return found

    def vector_rows(self, session_id: str, start: int = 0) -> tuple[str | None, list[VectorRow]]:
        with self._read() as c:
            row = c.execute("SELECT epoch FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()
            if row is None:
                return None, []
            rows = c.execute("SELECT seq, model, vector FROM vectors WHERE session_id = ?"
                             " AND seq >= ? ORDER BY seq", (session_id, min(start, INT64_MAX))
                             ).fetchall()
        return row[0], [(seq, model, bytes(blob)) for seq, model, blob in rows]


    def fold_state(self, session_id: str) -> FoldState | None:
        with self._read(statements=1) as c:
            row = c.execute(
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
                f"SELECT {SUMMARY_COLUMNS} FROM summaries WHERE session_id = ? AND idx = ?",
                (session_id, summary_count - 1),
            ).fetchone()
        messages = [_message(r, through_seq) for r in rows]
        summary = _summary(summary_row) if summary_row else None
        return MemoryView(session_id, messages, context, tokens_used, summary)

    async def aview(self, session_id: str, limit: int) -> MemoryView:
        """Inline: a local read is sub-millisecond, cheaper than a thread hop."""
        return self.view(session_id, limit)

    def history(self, session_id: str, start: int = 0, limit: int | None = None) -> list[Message]:
        if start > INT64_MAX:  # past any seq SQLite can hold: an empty page, as past the end
            return []
        if limit is None or limit > INT64_MAX:
            limit = -1  # no limit
        with self._read() as c:
            row = c.execute(
                "SELECT through_seq FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return []
            rows = c.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND seq >= ?"
                " ORDER BY seq LIMIT ?",
                (session_id, start, limit),
            ).fetchall()
        return [_message(r, row[0]) for r in rows]

    def summaries(self, session_id: str) -> list[Summary]:
        with self._read(statements=1) as c:
            rows = c.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM summaries WHERE session_id = ? ORDER BY idx",
                (session_id,),
            ).fetchall()
        return [_summary(r) for r in rows]

    def session_ids(self, namespace: str | None = None) -> list[str]:
        with self._read(statements=1) as c:
            if namespace is None:
                rows = c.execute("SELECT session_id FROM sessions ORDER BY write_order")
            else:
                rows = c.execute(
                    "SELECT session_id FROM namespaces WHERE namespace = ? ORDER BY write_order",
                    (namespace,),
                )
            return [r[0] for r in rows]

    def session_infos(self, window_size: int,
                      ids: Sequence[str] | None = None) -> list[SessionInfo]:
        window_size = min(window_size, INT64_MAX)
        query = (
            "SELECT s.session_id, s.last_seq + 1, s.summary_count, s.last_write,"
            " (SELECT COALESCE(SUM(m.tokens), 0) FROM messages m WHERE m.session_id = s.session_id"
            "  AND m.seq > MAX(s.through_seq, s.last_seq - ?)), s.write_order, s.parent,"
            " s.forked_at FROM sessions s"
        )
        with self._read() as c:
            if ids is None:
                rows = c.execute(query + " ORDER BY s.write_order", (window_size,)).fetchall()
            else:
                wanted = list(dict.fromkeys(ids))
                rows = []
                for i in range(0, len(wanted), 500):  # stay far below SQLite's variable limit
                    chunk = wanted[i : i + 500]
                    marks = ", ".join("?" * len(chunk))
                    rows += c.execute(
                        f"{query} WHERE s.session_id IN ({marks})", (window_size, *chunk)
                    ).fetchall()
                rows.sort(key=lambda r: r[5])
        return [SessionInfo(r[0], r[1], r[2], utc_from_micros(r[3]), r[4], r[6], r[7])
                for r in rows]

    def export_columns(self, session_id: str | None = None) -> dict[str, list[Any]]:
        where, params = ("WHERE m.session_id = ?", (session_id,)) if session_id else ("", ())
        with _gc_paused():  # a million row tuples would otherwise trigger many full GC passes
            with self._read(statements=1) as c:
                rows = c.execute(
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
