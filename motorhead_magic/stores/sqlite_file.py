"""One SQLite file, shared by every kernel and server on a machine: its connections,
its transactions and its checkpoints (the queries of the Store live in ``sqlite.py``).

WAL lets readers run beside a writer; ``BEGIN IMMEDIATE`` plus a busy timeout
serialises writers across processes, and each public write is one transaction.

Connections come from a small pool: each call checks one out and returns it, so
the number open is bounded by the calls running at once (plus a few idle ones),
whatever the threads do, and ``close()`` only ever closes a connection nobody is
using (a busy one is closed by its user when it comes back). The writes of this
process go through a group commit (``group.py``): the writes waiting at one
moment share one transaction, and each has one deadline (the busy timeout) for
its whole wait, in this process's queue and on SQLite's lock together. Checkpoints
run on a thread of their own, off the commit path.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import StoreUnavailable
from .group import GroupCommit, Write
from .sqlite_schema import (
    SCHEMA,
    add_search,
    legacy_views,
    migrate,
    schema_columns,
    search_views,
)

log = logging.getLogger("motorhead_magic")

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


class SQLiteFile:
    """A SQLite file opened for the store: pooled connections, ``_read()`` and
    ``_write(run)`` transactions, background checkpoints, errors as one line."""

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
        self._group = GroupCommit(self._commit, self._queue_timeout, self._commit_now)
        self._dirty = 0  # commits since the last checkpoint
        self._checkpointing = False  # the checkpoint thread runs
        self._checkpoint_soon = threading.Event()
        self._checkpoint_tail = False  # the thread copied the WAL: a writer ends the job

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}{' read-only' if self.read_only else ''}>"

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
            self._give_back(conn, self._shortened)

    def _give_back(self, conn: sqlite3.Connection, shortened: bool) -> None:
        """Back to the pool with the busy timeout it had (the pool's readers wait for
        locks as long as ever), or closed if that cannot be set."""
        if shortened:
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            except sqlite3.Error:
                conn.close()
                return
        self._checkin(conn)

    def _apply(self, conn: sqlite3.Connection, batch: list[Write]) -> None:
        """The batch's writes and COMMIT in the open transaction, each write settled ok
        once committed; on any error, ROLLBACK (nothing written) and the error raised."""
        try:
            results = [write.op(conn) for write in batch]
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self.commits += 1
        for write, result in zip(batch, results):
            write.ok(result)

    def _commit_now(self, batch: list[Write]) -> bool:
        """The fast path for an event loop: the batch in one transaction on the calling
        thread if SQLite's write lock is free this instant. False, with nothing written,
        when it is not or anything is unusual (a write past its deadline or failing):
        :meth:`_commit` then does it the patient way on the committer thread."""
        now = time.monotonic()
        if any(write.expired(now) for write in batch):
            return False
        try:
            conn = self._checkout()
        except StoreUnavailable:
            return False
        try:
            try:
                conn.execute("PRAGMA busy_timeout = 0")
                conn.execute("BEGIN IMMEDIATE")
                self._apply(conn, batch)
            except BaseException:
                return False
            try:  # committed: nothing after this may make the batch look failed
                self._after_commit(conn)  # (its PASSIVE checkpoint does not wait either)
            except Exception:
                log.exception("SQLite store %s: after a commit", self.path)
            return True
        finally:
            self._give_back(conn, shortened=True)

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
                self._apply(conn, pending)
            except BaseException as exc:
                if len(pending) == 1:
                    pending[0].fail(self._unavailable(exc) if _is_store_error(exc) else exc)
                    return
                for write in pending:  # one failing write must not fail the others
                    self._commit_on(conn, [write])
                return
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
