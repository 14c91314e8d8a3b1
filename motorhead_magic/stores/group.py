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
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

MAX_BATCH = 256  # writes per transaction: bounds one batch's latency and memory


class Write:
    """One caller's write: ``op`` is what the store applies (a function of a connection,
    or the arguments of a script)."""

    __slots__ = ("op", "deadline", "result", "error", "settled", "taken", "lead", "_wake")

    def __init__(self, op: Any, deadline: float | None) -> None:
        self.op = op
        self.deadline = deadline  # time.monotonic() value, or None
        self.result: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.taken = False  # in a batch: its outcome is coming
        self.lead = False  # made leader by the previous one
        self._wake = threading.Lock()  # held until the write is settled or made leader
        self._wake.acquire()  # (a bare lock: an Event costs ten times more to make)

    def ok(self, result: Any) -> None:
        self.result, self.error, self.settled = result, None, True

    def fail(self, error: BaseException) -> None:
        self.result, self.error, self.settled = None, error, True

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


class GroupCommit:
    """The write queue of one store (in one process)."""

    def __init__(self, commit: Callable[[list[Write]], None],
                 timed_out: Callable[[Write], BaseException]) -> None:
        self._commit = commit
        self._timed_out = timed_out
        self._lock = threading.Lock()
        self._queue: deque[Write] = deque()
        self._leading = False

    def submit(self, op: Any, deadline: float | None = None) -> Any:
        """Apply ``op`` in a shared transaction; its result once durable, or its error."""
        write = Write(op, deadline)
        with self._lock:
            self._queue.append(write)
            lead = not self._leading
            self._leading = True
        if not lead:
            self._wait(write)
        if not write.settled:  # made leader (or led from the start)
            self._lead()
        if write.error is not None:
            raise write.error
        return write.result

    def _wait(self, write: Write) -> None:
        timeout = -1 if write.deadline is None else max(0.0, write.deadline - time.monotonic())
        if write._wake.acquire(timeout=timeout):
            return
        with self._lock:
            if not (write.taken or write.lead or write.settled):
                self._queue.remove(write)
                write.fail(self._timed_out(write))
                return
        write._wake.acquire()  # taken into a batch, or made leader, just now

    def _lead(self) -> None:
        batch: list[Write] = []
        try:
            with self._lock:
                batch = [self._queue.popleft()
                         for _ in range(min(MAX_BATCH, len(self._queue)))]
                for write in batch:
                    write.taken = True
            try:
                self._commit(batch)
            finally:
                for write in batch:
                    if not write.settled:  # a store bug must never hang a caller
                        write.fail(RuntimeError("group commit: a write was left unsettled"))
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is not None:
                    successor.lead = True
                else:
                    self._leading = False
            for write in batch:
                _wake(write)
            if successor is not None:
                _wake(successor)


def _wake(write: Write) -> None:
    try:
        write._wake.release()
    except RuntimeError:  # already released (a leader's own write): nobody waits on it
        pass
