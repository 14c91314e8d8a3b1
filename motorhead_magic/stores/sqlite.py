"""The embedded store: one SQLite file, shared by every kernel and server on a machine.

WAL lets readers run beside a writer; ``BEGIN IMMEDIATE`` plus a busy timeout
serialises writers across processes, and each public write is one transaction.

Connections come from a small pool: each call checks one out and returns it, so
the number open is bounded by the calls running at once (plus a few idle ones),
whatever the threads do, and ``close()`` only ever closes a connection nobody is
using (a busy one is closed by its user when it comes back). The writes of this
process go through a group commit (``group.py``): the writes waiting at one
moment share one transaction, and each has one deadline (the busy timeout) for
its whole wait, in this process's queue and on SQLite's lock together.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
from . import words
from .base import EXPORT_COLUMNS, FoldState, VectorRow, fork_refused
from .group import GroupCommit, Write
from .sqlite_schema import (
    MESSAGE_COLUMNS,
    SCHEMA,
    SUMMARY_COLUMNS,
    add_search,
    legacy_views,
    migrate,
    schema_columns,
    search_views,
)

INT64_MAX = 2**63 - 1  # SQLite's largest integer: a seq or a count never exceeds it
MAX_IDLE = 4  # pooled connections kept open between calls (more are opened when busy)
CHECKPOINT_EVERY = 1.0  # seconds between background WAL checkpoints while writes come
CHECKPOINT_IDLE = 10.0  # the checkpoint thread ends after this long without writes
CHECKPOINT_COMMITS = 200  # or sooner, after this many commits (~1,000 WAL pages)


def _error_name(exc: sqlite3.Error) -> str:
    """SQLite's primary error name (``SQLITE_BUSY``...); from the text before Python 3.11."""
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return name.split("_")[0] + "_" + name.split("_")[1]
    text = str(exc).lower()
    for needle, known in (("locked", "SQLITE_BUSY"), ("readonly", "SQLITE_READONLY"),
                          ("unable to open", "SQLITE_CANTOPEN"), ("is full", "SQLITE_FULL"),
                          ("malformed", "SQLITE_CORRUPT"), ("not a database", "SQLITE_NOTADB")):
        if needle in text:
            return known
    return "SQLITE_ERROR"


def _is_store_error(exc: BaseException) -> bool:
    """An error of the file or the database (not of our code, which would be a bug)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.ProgrammingError)


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


class SQLiteStore:
    """A :class:`~motorhead_magic.stores.base.Store` in one SQLite file."""

    fast_reads = True  # WAL readers never wait for writers; a window read is ~50 µs

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser().absolute()
        self.url = f"sqlite://{self.path.as_posix()}"
        self.read_only = False  # the file cannot be written here: reads only
        self.commits = 0  # write transactions committed (each holds one or more writes)
        self._busy_timeout = busy_timeout
        self._uri: str | None = None  # how read-only connections open the file
        self._views: list[str] = []  # what each read-only connection runs first
        self._closed = False
        self._start_process()
        self._open()

    def _start_process(self) -> None:
        """Fresh pool and queue: at open, and in a forked child, which must never use
        (or close) its parent's connections, nor wait on a parent thread's lock."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards the pool
        self._idle: list[sqlite3.Connection] = []
        self._group = GroupCommit(self._commit, self._queue_timeout)
        self._dirty = 0  # commits since the last checkpoint
        self._checkpointing = False  # the checkpoint thread runs
        self._checkpoint_soon = threading.Event()
        self._checkpoint_tail = False  # the thread copied the WAL: a writer ends the job

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path}{' read-only' if self.read_only else ''}>"

    # -- opening ---------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self.path.is_file():
                raise StoreUnavailable(f"cannot open SQLite store {self.path}: "
                                       f"{exc.strerror or exc}") from None
        self.read_only = not self._file_writable()
        if not self.read_only:
            try:
                conn = self._connect()
                try:
                    conn.executescript(SCHEMA)
                    migrate(conn)
                    add_search(conn)
                except BaseException:
                    conn.close()
                    raise
            except sqlite3.Error as exc:
                # A writable file in a folder where SQLite cannot make its -wal file
                # (or a file that turned read-only): readable, but not writable here.
                if not (_error_name(exc) in ("SQLITE_READONLY", "SQLITE_CANTOPEN")
                        and self.path.stat().st_size > 0):
                    raise self._unavailable(exc, "cannot open") from None
                self.read_only = True
        if self.read_only:
            conn = self._open_read_only()
        try:
            if self.read_only:  # an older store cannot be upgraded here: views stand in
                try:
                    self._views = legacy_views(conn) + search_views(conn)
                    for view in self._views:
                        conn.execute(view)
                except sqlite3.Error as exc:
                    raise self._unavailable(exc, "cannot open (read-only)") from None
            self._check_schema(conn)
        except BaseException:
            conn.close()
            raise
        self._checkin(conn)

    def _file_writable(self) -> bool:
        """Whether this process can write the file (creating it if needed): SQLite
        silently opens an unwritable file read-only, and then fails each write."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and self.path.is_file():
                return False
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: "
                                   f"{exc.strerror or exc}") from None
        os.close(fd)
        return True

    def _open_read_only(self) -> sqlite3.Connection:
        """A read-only connection, and the URI the pool opens later ones with. Without
        write access to the folder SQLite cannot make the WAL index: then, if no
        write-ahead log holds pending changes, the file is read as immutable."""
        base = f"file:{quote(self.path.as_posix())}?mode=ro"
        wal = self.path.with_name(self.path.name + "-wal")
        candidates = [base]
        if not wal.exists() or wal.stat().st_size == 0:
            candidates.append(base + "&immutable=1")
        error: sqlite3.Error | None = None
        for uri in candidates:
            self._uri = uri
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                error = exc
                continue
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.Error as exc:
                conn.close()
                error = exc
        assert error is not None
        raise self._unavailable(error, "cannot open (read-only)") from None

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """A file of another program (same table names, other columns) is refused at
        open, instead of failing each call with SQL errors."""
        try:
            for table, columns in schema_columns().items():
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                missing = columns - have
                if missing:
                    what = (f"has no table {table}" if not have else
                            f"has a table {table} without {', '.join(sorted(missing))}")
                    raise StoreUnavailable(
                        f"SQLite store {self.path} is not a motorhead-magic store: it {what}")
        except sqlite3.Error as exc:
            raise self._unavailable(exc, "cannot open") from None

    # -- connections -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._uri is not None:
            conn = sqlite3.connect(self._uri, uri=True, timeout=self._busy_timeout,
                                   isolation_level=None, check_same_thread=False)
            for view in self._views:
                conn.execute(view)
            return conn
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (and their fsyncs) run on a thread of their own, not in the
            # commit of whichever writer crossed 1,000 pages (it made p99 twice p50).
            conn.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _checkout(self) -> sqlite3.Connection:
        """A connection for this call only (from the pool, or a new one)."""
        if self._pid != os.getpid():
            self._start_process()
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"SQLite store {self.path} is closed")
            if self._idle:
                return self._idle.pop()
        try:
            return self._connect()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from None

    def _checkin(self, conn: sqlite3.Connection) -> None:
        """Back to the pool; closed instead when the store is closed or the pool full
        (by the thread that used it last, so never under another thread's feet)."""
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        with self._lock:
            if not (self._closed or conn.in_transaction or len(self._idle) >= MAX_IDLE):
                self._idle.append(conn)
                return
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def close(self) -> None:
        """Safe from any thread at any time: idle connections close now, busy ones when
        their call ends; every later call raises :class:`StoreUnavailable`."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        self._group.close()
        if self._pid == os.getpid():
            for conn in idle:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass

    def _unavailable(self, exc: sqlite3.Error, doing: str = "failed") -> StoreUnavailable:
        """What went wrong with the file, as one line naming it (no SQL, no traceback)."""
        name = _error_name(exc)
        if name == "SQLITE_READONLY":
            return StoreUnavailable(f"SQLite store {self.path} is read-only here: {exc}")
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            return StoreUnavailable(f"SQLite store {self.path} {doing}: the file is damaged or"
                                    f" not a database ({exc})")
        return StoreUnavailable(f"SQLite store {self.path} {doing}: {exc}")

    def _lock_timeout(self, where: str) -> StoreUnavailable:
        return StoreUnavailable(
            f"SQLite store {self.path}: gave up after {self._busy_timeout:g}s waiting for the"
            f" write lock ({where})")

    def _queue_timeout(self, write: Write) -> StoreUnavailable:
        return self._lock_timeout("queued behind this process's writers")

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _read(self, statements: int = 2) -> Iterator[sqlite3.Connection]:
        """One consistent read on a pooled connection: a deferred transaction when it
        runs more than one statement (one statement is consistent by itself)."""
        conn = self._checkout()
        try:
            if statements > 1:
                conn.execute("BEGIN")
            yield conn
            if statements > 1:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if _is_store_error(exc):
                raise self._unavailable(exc) from None
            raise
        finally:
            self._checkin(conn)

    def _write(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """``run(conn)`` in a write transaction, maybe shared with other threads' writes;
        returns its result once committed."""
        self._check_writable()
        return self._group.submit(run, time.monotonic() + self._busy_timeout)

    async def _awrite(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """:meth:`_write` for an event loop: awaited, committed by the store's thread."""
        self._check_writable()
        return await self._group.asubmit(run, time.monotonic() + self._busy_timeout)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreUnavailable(f"SQLite store {self.path} is read-only here: writes are"
                                   " refused")
        if self._pid != os.getpid():
            self._start_process()
        if self._closed:
            raise StoreUnavailable(f"SQLite store {self.path} is closed")

    def _commit(self, batch: list[Write]) -> None:
        """The group commit's leader: the batch in one transaction, on one connection."""
        try:
            conn = self._checkout()
        except StoreUnavailable as exc:
            for write in batch:
                write.fail(exc)
            return
        self._shortened = False
        try:
            self._commit_on(conn, batch)
        finally:
            reusable = True
            if self._shortened:  # the pool's readers wait for locks as long as ever
                try:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                except sqlite3.Error:
                    reusable = False
            if reusable:
                self._checkin(conn)
            else:
                conn.close()

    def _commit_on(self, conn: sqlite3.Connection, batch: list[Write]) -> None:
        pending = batch
        while pending:
            now = time.monotonic()
            for write in pending:
                if write.expired(now):
                    write.fail(self._lock_timeout("held by another connection or process"))
            pending = [w for w in pending if not w.settled]
            if not pending:
                return
            wait = min(w.deadline or now for w in pending) - now
            try:  # SQLite's own wait for the lock ends with the first deadline
                if wait < self._busy_timeout - 0.05:  # (a fresh write's is the default)
                    conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait * 1000))}")
                    self._shortened = True
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if _error_name(exc) == "SQLITE_BUSY":  # who expired fails above; others wait
                    if time.monotonic() < now + wait:
                        time.sleep(0.001)  # SQLite gave up early: never spin on the lock
                    continue
                error = self._unavailable(exc) if _is_store_error(exc) else exc
                for write in pending:
                    write.fail(error)
                return
            try:
                results = [write.op(conn) for write in pending]
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if len(pending) == 1:
                    pending[0].fail(self._unavailable(exc) if _is_store_error(exc) else exc)
                    return
                for write in pending:  # one failing write must not fail the others
                    self._commit_on(conn, [write])
                return
            self.commits += 1
            for write, result in zip(pending, results):
                write.ok(result)
            self._after_commit(conn)
            return

    # -- checkpoints -------------------------------------------------------------------

    def _after_commit(self, conn: sqlite3.Connection) -> None:
        if self._checkpoint_tail:
            # The thread copied the bulk while writers went on; the few pages written
            # since are copied here, between two batches, so that the checkpoint is
            # complete and the next write starts the WAL file over (else, under
            # steady writes, it would never stop growing).
            try:
                busy = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0]
            except sqlite3.Error:
                busy = 0
            self._checkpoint_tail = bool(busy)  # another checkpoint ran: at the next commit
        self._dirty += 1  # before looking at the thread: it reads this before it ends
        if self._checkpointing:
            if self._dirty >= CHECKPOINT_COMMITS:
                self._checkpoint_soon.set()
            return
        with self._lock:
            if self._checkpointing or self._closed:
                return
            self._checkpointing = True
        threading.Thread(target=self._checkpointer, name="motorhead-sqlite-checkpoint",
                         daemon=True).start()

    def _checkpointer(self) -> None:
        """Copies the WAL back into the database about once a second while writes come,
        or after :data:`CHECKPOINT_COMMITS` commits (PASSIVE: it never blocks a reader
        or a writer); ends when writes stop."""
        last_write = time.monotonic()
        while True:
            self._checkpoint_soon.wait(CHECKPOINT_EVERY)
            self._checkpoint_soon.clear()
            with self._lock:
                dirty, self._dirty = self._dirty, 0
                if self._closed or self._pid != os.getpid() or (
                        not dirty and time.monotonic() - last_write > CHECKPOINT_IDLE):
                    self._checkpointing = False  # with the look at _dirty: no write missed
                    return
            if not dirty:
                continue
            last_write = time.monotonic()
            try:
                conn = self._checkout()
                try:  # twice: the second pass copies what came during the first
                    for _ in range(2):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    self._checkin(conn)
                self._checkpoint_tail = True
            except BaseException:  # closed meanwhile, or the file went: the next tick ends
                if self._closed:
                    with self._lock:
                        self._checkpointing = False
                    return

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
