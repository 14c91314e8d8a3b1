"""Group commit: the writes of a store's threads that wait at the same moment share
one transaction (SQLite) or one round trip (Redis).

Each write is a :class:`Write` queued here. The first writer to find no leader
becomes the leader: it takes every write queued at that moment (its own first,
in arrival order) and hands them to the store's ``commit(batch)``, which must
settle each write (``ok`` or ``fail``) only once its transaction is durable, and
must keep one write's failure from failing the others (by retrying them one by
one). The leader then passes the lead to the oldest write still queued, so each
caller leaves as soon as its own write is settled; the others sleep on their own
event, woken once, when theirs is settled or when they are made leader.

A write has a deadline: if it is still queued (not taken into a batch) when the
deadline passes, it leaves the queue and raises the store's timeout error. A
write taken into a batch waits for its outcome, which the store bounds.

:meth:`GroupCommit.asubmit` is the twin for an event loop (the server's POST): the
caller awaits a future instead of holding a thread, and the loop leads its own writes,
after its current iteration (so the writes of the requests read in it join): SQLite
commits there if it can without waiting (``commit_now``: its write lock free), Redis
awaits the round trip in a task (``acommit``). A batch the fast path gives back, and an
event loop's write queued behind a thread's, are led by the store's committer thread
(one daemon thread), which settles a batch's futures with one wake-up of their loop.
Whatever a commit does, raise included, the lead is passed on (``_finish``). A thread
per write (the worker hop and the lock hand-offs), and even one committer thread for
all (the GIL handed back and forth around each SQLite call), had cost more CPU than
the transaction.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .daemon import DaemonPool

MAX_BATCH = 256  # writes per transaction: bounds one batch's latency and memory


class Write:
    """One caller's write: ``op`` is what the store applies (a function of a connection,
    or the arguments of a script). A thread's write is woken by its lock; an event
    loop's by its ``future``."""

    __slots__ = ("op", "deadline", "result", "error", "settled", "taken", "lead", "_wake",
                 "future")

    def __init__(self, op: Any, deadline: float | None,
                 future: asyncio.Future[Any] | None = None) -> None:
        self.op = op
        self.deadline = deadline  # time.monotonic() value, or None
        self.result: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.taken = False  # in a batch: its outcome is coming
        self.lead = False  # made leader by the previous one
        self.future = future
        self._wake: threading.Lock | None = None
        if future is None:
            self._wake = threading.Lock()  # held until the write is settled or made leader
            self._wake.acquire()  # (a bare lock: an Event costs ten times more to make)

    def ok(self, result: Any) -> None:
        self.result, self.error, self.settled = result, None, True

    def fail(self, error: BaseException) -> None:
        self.result, self.error, self.settled = None, error, True

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


class GroupCommit:
    """The write queue of one store (in one process).

    ``commit(batch)`` settles every write of the batch, waiting as long as needed. For
    event loops a store may have either of two more: ``commit_now(batch)`` commits the
    batch on the calling thread only if it can do so without waiting, and otherwise
    returns False having done nothing (then ``commit`` gets the batch on the committer
    thread); ``acommit(batch)`` is ``commit`` as a coroutine (a network round trip
    awaited on the loop)."""

    def __init__(self, commit: Callable[[list[Write]], None],
                 timed_out: Callable[[Write], BaseException],
                 commit_now: Callable[[list[Write]], bool] | None = None,
                 acommit: Callable[[list[Write]], Awaitable[None]] | None = None) -> None:
        self._commit = commit
        self._commit_now = commit_now
        self._acommit = acommit
        self._timed_out = timed_out
        self._lock = threading.Lock()
        self._queue: deque[Write] = deque()
        self._leading = False
        self._committer: DaemonPool | None = None  # leads for event loops' writes
        self._tasks: set[asyncio.Task[None]] = set()  # leader tasks running on loops

    def submit(self, op: Any, deadline: float | None = None) -> Any:
        """Apply ``op`` in a shared transaction; its result once durable, or its error."""
        write = Write(op, deadline)
        if not self._enqueue(write):
            self._wait(write)
        if not write.settled:  # leads from the start, or made leader
            batch = self._take()
            try:
                self._commit(batch)
            finally:
                self._finish(batch)
        if write.error is not None:
            raise write.error
        return write.result

    async def asubmit(self, op: Any, deadline: float | None = None) -> Any:
        """:meth:`submit` for an event loop. Cancelled while still queued, the write
        leaves the queue (never applied); once taken into a batch it is applied all the
        same (the store bounds how long that takes)."""
        loop = asyncio.get_running_loop()
        write = Write(op, deadline, loop.create_future())
        if self._enqueue(write):
            self._lead_async(write)
        timer = (None if deadline is None else
                 loop.call_later(max(0.0, deadline - time.monotonic()), self._expire, write))
        try:
            return await write.future  # type: ignore[misc]
        except asyncio.CancelledError:
            self._withdraw(write)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        """The committer thread ends once the writes handed to it are settled."""
        with self._lock:
            committer, self._committer = self._committer, None
        if committer is not None:
            committer.shutdown()

    # -- the queue -------------------------------------------------------------------

    def _enqueue(self, write: Write) -> bool:
        """Queue ``write``; True when its caller must lead (nobody else does)."""
        with self._lock:
            self._queue.append(write)
            lead = not self._leading
            self._leading = True
        return lead

    def _take(self) -> list[Write]:
        """The leader's batch: the writes queued now, oldest first."""
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            for write in batch:
                write.taken = True
        return batch

    def _finish(self, batch: list[Write]) -> None:
        """After a batch, whatever happened in it: no write left unsettled (a store bug
        must never hang a caller), its callers told, and the lead passed on: to the next
        queued write's thread, or for an event loop's write to its loop or the committer."""
        for write in batch:
            if not write.settled:
                write.fail(RuntimeError("group commit: a write was left unsettled"))
        successor = self._pass_lead(batch)
        if successor is not None:
            self._lead_async(successor)

    def _pass_lead(self, batch: list[Write]) -> Write | None:
        """After a batch: tell its callers, and make the oldest queued write's thread the
        leader; an event loop's write is returned instead (its caller holds no thread)."""
        with self._lock:
            successor = self._queue[0] if self._queue else None
            if successor is None:
                self._leading = False
            elif successor.future is None:
                successor.lead = True
        _settle(batch)
        if successor is None or successor.future is not None:
            return successor
        _wake(successor)
        return None

    def _lead_async(self, write: Write) -> None:
        """Lead for ``write``, an event loop's: on that loop, after its current iteration,
        if the store can commit without waiting and this runs on that loop; else on the
        committer thread."""
        assert write.future is not None
        loop = write.future.get_loop()
        if _running_loop() is not loop:
            self._to_committer(self._lead_on)
        elif self._commit_now is not None:
            loop.call_soon(self._lead_here)
        elif self._acommit is not None:
            task = loop.create_task(self._lead_task())
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)
        else:
            self._to_committer(self._lead_on)

    def _lead_here(self) -> None:
        """On an event loop: the queued writes in one transaction now, if nothing has to
        wait; else the committer thread takes over this batch and the lead."""
        batch = self._take()
        handed_over = False
        try:
            if batch and not self._commit_now(batch):  # type: ignore[misc]
                self._to_committer(lambda: self._lead_on(batch))
                handed_over = True
        finally:
            if not handed_over:
                self._finish(batch)

    async def _lead_task(self) -> None:
        """On an event loop, for a store that awaits its commits: the queued writes in
        one awaited round trip (the next batch is led by a task of its own)."""
        batch = self._take()
        try:
            if batch:
                await self._acommit(batch)  # type: ignore[misc]
        finally:
            self._finish(batch)

    def _lead_on(self, batch: list[Write] | None = None) -> None:
        """The committer's job: commit ``batch`` (or the writes queued now), waiting as
        long as the store needs."""
        batch = self._take() if batch is None else batch
        try:
            if batch:
                self._commit(batch)
        finally:
            self._finish(batch)

    def _to_committer(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._committer is None:  # first use, or after close(): writes in flight
                self._committer = DaemonPool(1, "motorhead-commit")
            committer = self._committer
        committer.submit(job)

    # -- deadlines and cancellation ---------------------------------------------------

    def _wait(self, write: Write) -> None:
        assert write._wake is not None
        timeout = -1 if write.deadline is None else max(0.0, write.deadline - time.monotonic())
        if write._wake.acquire(timeout=timeout):
            return
        if self._withdraw(write):
            write.fail(self._timed_out(write))
            return
        write._wake.acquire()  # taken into a batch, or made leader, just now

    def _withdraw(self, write: Write) -> bool:
        """Take ``write`` out of the queue if nobody took it or made it leader yet."""
        with self._lock:
            if write.taken or write.lead or write.settled:
                return False
            self._queue.remove(write)
            return True

    def _expire(self, write: Write) -> None:
        """An event loop's write past its deadline (on its loop): failed if still queued."""
        if self._withdraw(write):
            write.fail(self._timed_out(write))
            _resolve([write])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(batch: list[Write]) -> None:
    """Tell each caller of ``batch``: a thread by its lock, an event loop once for all
    of its writes."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Write]] = {}
    for write in batch:
        if write.future is None:
            _wake(write)
        else:
            by_loop.setdefault(write.future.get_loop(), []).append(write)
    here = _running_loop() if by_loop else None
    for loop, writes in by_loop.items():
        if loop is here:
            _resolve(writes)
            continue
        try:
            loop.call_soon_threadsafe(_resolve, writes)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            pass


def _resolve(writes: list[Write]) -> None:
    """On the writes' loop: each future gets its write's outcome (unless cancelled)."""
    for write in writes:
        future = write.future
        assert future is not None
        if future.done():
            continue
        if write.error is not None:
            future.set_exception(write.error)
        else:
            future.set_result(write.result)


def _wake(write: Write) -> None:
    assert write._wake is not None
    try:
        write._wake.release()
    except RuntimeError:  # already released (a leader's own write): nobody waits on it
        pass
