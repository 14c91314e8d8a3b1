"""The memory engine: validates writes, shows the window, schedules folds.

A fold runs on a worker thread after a write pushes the window past ``W``
messages. Safety across threads, processes and replicas comes from the
store: a lease keeps a second worker from spending LLM calls on the same
session, and ``add_summary`` is a compare-and-set, so a fold lands only on
the exact state it read (never after a delete, never twice for one point).
A failed fold changes nothing; the next write schedules it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import StoreUnavailable, WaitTimedOut
from ..records import MemoryView, Message, SessionInfo, Summary
from ..stores.base import FoldState, Store
from .base import (
    MemoryBase,
    check_add,
    check_history_range,
    check_namespace,
    check_session_id,
    check_window_size,
)
from .summarizer import Summarizer, as_summarizer
from .tokens import tokenizer_name

log = logging.getLogger("motorhead_magic")


class LocalMemory(MemoryBase):
    """The Memory protocol over a local :class:`Store` (SQLite or Redis)."""

    def __init__(
        self,
        store: Store,
        *,
        window_size: int = 12,
        summarizer: Any = None,
        lease_seconds: float = 120.0,
        workers: int = 2,
    ) -> None:
        super().__init__()
        self.window_size = check_window_size(window_size)
        self.store = store
        self.fast_reads = store.fast_reads
        self.summarizer: Summarizer | None = as_summarizer(summarizer)
        self.lease_seconds = lease_seconds
        self.tokenizer = tokenizer_name()
        self.last_fold_error: BaseException | None = None
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._queued: set[str] = set()
        self._active: dict[str, int] = {}
        self._idle = threading.Condition()

    @property
    def url(self) -> str:
        return self.store.url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} window_size={self.window_size}>"

    # -- the Memory protocol ---------------------------------------------------------

    def add(
        self,
        session_id: str,
        messages: Sequence[Any],
        *,
        context: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """Append messages (and optionally replace the current summary text first)."""
        session_id, items, context, namespace = check_add(session_id, messages, context,
                                                          namespace)
        if not items and context is None:
            return
        self.store.append(session_id, items, context, namespace)
        self._notify("write", session_id)
        self._schedule(session_id)

    def import_context(self, session_id: str, context: str, tokens_used: int = 0) -> None:
        """Make ``context`` the current summary at the current summary point, carrying
        the LLM tokens another system spent making it (an upstream import)."""
        session_id, _, context, _ = check_add(session_id, [], context, None)
        for _ in range(3):  # a fold may land in between: then read the new point
            state = self.store.fold_state(session_id)
            if state is None:
                self.add(session_id, [], context=context)
                return
            if self.store.add_summary(session_id, state.epoch, state.summary_count,
                                      state.through_seq, context or "", tokens_used):
                self._notify("write", session_id)
                return
        raise StoreUnavailable(f"session {session_id!r} kept changing; context not imported")

    def get(self, session_id: str) -> MemoryView:
        return self.store.view(check_session_id(session_id), self.window_size)

    async def aget(self, session_id: str) -> MemoryView:
        return await self.store.aview(check_session_id(session_id), self.window_size)

    def history(self, session_id: str, start: int = 0, limit: int | None = None) -> list[Message]:
        start, limit = check_history_range(start, limit)
        return self.store.history(check_session_id(session_id), start, limit)

    def summaries(self, session_id: str) -> list[Summary]:
        return self.store.summaries(check_session_id(session_id))

    def sessions(self, namespace: str | None = None) -> list[str]:
        return self.store.session_ids(check_namespace(namespace))

    def session_infos(self, ids: Sequence[str] | None = None) -> list[SessionInfo]:
        return self.store.session_infos(self.window_size, ids)

    def delete(self, session_id: str) -> None:
        self.store.delete(check_session_id(session_id))
        self._notify("delete", session_id)

    def wait(self, session_id: str | None = None, timeout: float = 30.0) -> None:
        """Block until background folds (of one session, or all) are done."""

        def idle() -> bool:
            if session_id is None:
                return not self._active
            return session_id not in self._active

        with self._idle:
            if not self._idle.wait_for(idle, timeout):
                raise WaitTimedOut(f"background summarization still running after {timeout}s")

    def _export_columns(self, session_id: str | None) -> dict[str, list[Any]]:
        return self.store.export_columns(session_id)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.store.close()

    # -- background folding ----------------------------------------------------------

    def _schedule(self, session_id: str) -> None:
        if self.summarizer is None:
            return
        with self._idle:
            if session_id in self._queued:
                return
            self._queued.add(session_id)
            self._active[session_id] = self._active.get(session_id, 0) + 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, "motorhead-fold")
        self._executor.submit(self._run_fold, session_id)

    def _run_fold(self, session_id: str) -> None:
        with self._idle:
            self._queued.discard(session_id)
        try:
            self.fold(session_id)
        except Exception as exc:
            self.last_fold_error = exc
            log.warning("motorhead: fold of session %r failed (retried on the next write): %s",
                        session_id, exc)
        finally:
            with self._idle:
                self._active[session_id] -= 1
                if not self._active[session_id]:
                    del self._active[session_id]
                self._idle.notify_all()

    def fold(self, session_id: str) -> int:
        """Fold the session now, in this thread, while its window exceeds ``W``; returns
        how many summaries landed (0 if another worker holds the lease)."""
        if self.summarizer is None:
            return 0
        landed = 0
        # Checked again after the lease is released: a write that landed after our last
        # read scheduled a fold that found the lease taken and gave up.
        while self._state_if_fold_needed(session_id) is not None:
            token = self.store.acquire_lease(session_id, self.lease_seconds)
            if token is None:
                return landed
            try:
                while (state := self._state_if_fold_needed(session_id)) is not None:
                    landed += self._fold_once(session_id, state)
            finally:
                self.store.release_lease(session_id, token)
        return landed

    def _state_if_fold_needed(self, session_id: str) -> FoldState | None:
        state = self.store.fold_state(session_id)
        if state is None or state.last_seq - state.through_seq <= self.window_size:
            return None
        return state

    def _fold_once(self, session_id: str, state: FoldState) -> int:
        """One LLM fold of ``state``; lands only if the session is still exactly there."""
        through = state.last_seq - self.window_size // 2
        lines = self.store.history(session_id, state.through_seq + 1, through - state.through_seq)
        context, spent = self.summarizer.fold(state.context, lines)
        if not self.store.add_summary(
            session_id, state.epoch, state.summary_count, through, context, spent
        ):
            return 0
        self.last_fold_error = None
        self._notify("fold", session_id)
        return 1
