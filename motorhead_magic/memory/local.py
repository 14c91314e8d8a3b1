"""The memory engine over a local store: validates writes, shows the window, folds.

A fold runs on a worker thread after a write pushes the window past ``W``
messages. Safety across threads, processes and replicas comes from the
store: a lease keeps a second worker from spending LLM calls on the same
session, and ``add_summary`` is a compare-and-set, so a fold lands only on
the exact state it read (never after a delete, never twice for one point).

A fold proceeds in bounded steps (at most ``max_chunks`` LLM calls each, every
step landing as a summary), so a backlog shows progress and a huge write cannot
cost hundreds of calls at once. A failed fold changes nothing and is retried by
itself with backoff; a fold blocked by another worker's lease is re-checked when
that lease may have expired. Closing never waits for an LLM call: the workers are
daemon threads, and a fold in flight is abandoned to its lease (it loses nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import StoreUnavailable, SummaryFailed, WaitTimedOut
from ..records import FoldProgress, MemoryView, Message, SearchResult, SessionInfo, Summary
from ..stores.base import FoldState, Store
from ..stores.daemon import DaemonPool
from .base import (
    MemoryBase,
    check_add,
    check_as_of,
    check_fork,
    check_history_range,
    check_namespace,
    check_search,
    check_session_id,
    check_session_ids,
    check_timeout,
    check_window_size,
)
from .search import Indexer, Searcher
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
        embeddings: Any = None,
        embed_timeout: float = 60.0,
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
        self._pool: DaemonPool | None = None
        self._queued: set[str] = set()
        self._active: dict[str, int] = {}
        self._idle = threading.Condition()
        self._progress: dict[str, FoldProgress] = {}
        self._folding: set[str] = set()  # sessions this process holds the lease of now
        self._attempts: dict[str, int] = {}
        self._index_attempts: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._closed = False
        self._owns_store = True
        self.embedder: Any = None
        if embeddings is not None:
            from .embeddings import resolve_embeddings

            self.embedder = resolve_embeddings(embeddings)
        self._searcher = Searcher(store, self.embedder, embed_timeout)
        self._indexer = Indexer(self._searcher) if self.embedder is not None else None
        self._index_pool: DaemonPool | None = None
        self._index_queued: set[str] = set()
        self._last_write: dict[str, float] = {}  # when each session was last written
        self._waiters = 0  # wait() calls running: indexing starts at once for them

    @property
    def url(self) -> str:
        return self.store.url

    def sibling(self, *, window_size: int | None = None, summarizer: Any = None) -> LocalMemory:
        """This memory's store with another window size and/or summarizer (a replay
        under other settings). Closing the sibling leaves the store open."""
        if window_size is None and summarizer is None:
            return self
        sibling = LocalMemory(self.store, window_size=window_size or self.window_size,
                              summarizer=summarizer if summarizer is not None
                              else self.summarizer, lease_seconds=self.lease_seconds,
                              workers=self._workers, embeddings=self.embedder,
                              embed_timeout=self._searcher.timeout)
        sibling._owns_store = False
        return sibling

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
        self._added(session_id, items)

    async def aadd(self, session_id: str, messages: Sequence[Any], *,
                   context: str | None = None, namespace: str | None = None) -> None:
        """:meth:`add` for an event loop (the server's POST): checked on the loop (as
        the request's JSON was parsed there), then the store's commit is awaited."""
        session_id, items, context, namespace = check_add(session_id, messages, context,
                                                          namespace)
        if not items and context is None:
            return
        await self.store.aappend(session_id, items, context, namespace)
        self._added(session_id, items)

    def _added(self, session_id: str, items: Sequence[Any]) -> None:
        """After a write: panels are told, a fold and the indexing are queued."""
        self._last_write[session_id] = time.monotonic()
        self._notify("write", session_id)
        self._schedule(session_id)
        if items:
            self._schedule_index(session_id)

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

    def fork(self, session_id: str, new_id: str, at: int | None = None) -> str:
        """A new session whose log is this one's up to ``at`` (DESIGN.md section 3)."""
        session_id, new_id, at = check_fork(session_id, new_id, at)
        self.store.fork(session_id, new_id, at)
        self._notify("write", new_id)
        self._schedule_index(new_id)  # vectors the source lacked when it was forked
        return new_id

    def search_result(self, session_id: str, text: str, k: int = 10, *,
                      mode: str | None = None, before: int | None = None,
                      as_of: int | datetime | None = None) -> SearchResult:
        """The session's messages most relevant to ``text``, best first (DESIGN.md
        section 3): by words, by meaning (with an embedder) or both in context; with the
        ranking that was used and why it fell back, if it did. ``as_of`` (a seq or a
        datetime) keeps only what memory held then."""
        session_id, text, k, mode, before = check_search(session_id, text, k, mode, before,
                                                         self.embedder is not None)
        bound = check_as_of(as_of, before)
        if isinstance(bound, datetime):
            bound = self.first_after(session_id, bound)
        return self._searcher.search(session_id, text, k, mode, bound)

    @property
    def search_note(self) -> str | None:
        """The last search's note (why it fell back to words), else None."""
        return self._searcher.note

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
        return self.store.session_infos(self.window_size, check_session_ids(ids))

    def delete(self, session_id: str) -> None:
        self.store.delete(check_session_id(session_id))
        self._searcher.vectors.forget(session_id)
        self._last_write.pop(session_id, None)
        self._notify("delete", session_id)

    def wait(self, session_id: str | None = None, timeout: float = 30.0) -> None:
        """Block until background work (folds and embedding, of one session or all) is
        done. A retry scheduled after a failure is not waited for (see :meth:`progress`)."""
        timeout = check_timeout(timeout)

        def idle() -> bool:
            if session_id is None:
                return not self._active
            return session_id not in self._active

        with self._idle:
            self._waiters += 1
            self._idle.notify_all()  # embedding that waits for a pause in writes starts now
            try:
                done = self._idle.wait_for(idle, timeout)
            finally:
                self._waiters -= 1
            if not done:
                busy = "; ".join(p.describe() for p in self.progress(session_id)) or "busy"
                raise WaitTimedOut(f"background summarization still running after {timeout:g}s"
                                   f" ({busy})")

    def progress(self, session_id: str | None = None) -> list[FoldProgress]:
        """Background summarization in progress or pending a retry (one session, or all)."""
        with self._idle:
            items = list(self._progress.values())
        return [p for p in items if session_id is None or p.session_id == session_id]

    def _export_columns(self, session_id: str | None) -> dict[str, list[Any]]:
        return self.store.export_columns(session_id)

    def close(self) -> None:
        """Stop folding and close the store, without waiting for an LLM call."""
        with self._idle:
            self._closed = True
            timers, self._timers = list(self._timers.values()), {}
            pool, self._pool = self._pool, None
            index_pool, self._index_pool = self._index_pool, None
            self._index_queued.clear()
            self._progress.clear()
            self._active.clear()
            self._queued.clear()
            self._idle.notify_all()
        for timer in timers:
            timer.cancel()
        for each in (pool, index_pool):
            if each is not None:
                each.shutdown()
        if self._owns_store:
            self.store.close()

    # -- background folding ----------------------------------------------------------

    def _schedule(self, session_id: str) -> None:
        if self.summarizer is not None:
            self._submit(session_id, self._queued, "_pool", self._workers, self._run_fold,
                         "motorhead-fold")

    def _submit(self, session_id: str, queued: set[str], pool_name: str, workers: int,
                job: Callable[[str], None], thread_name: str) -> None:
        """Queue ``job(session_id)`` once (a session already queued is not queued again)
        on the daemon pool kept in ``pool_name``; ``wait()`` counts it until
        :meth:`_job_done`."""
        with self._idle:
            if self._closed or session_id in queued:
                return
            queued.add(session_id)
            self._active[session_id] = self._active.get(session_id, 0) + 1
            pool = getattr(self, pool_name)
            if pool is None:
                pool = DaemonPool(workers, thread_name)
                setattr(self, pool_name, pool)
        pool.submit(lambda: job(session_id))

    def _job_done(self, session_id: str) -> None:
        with self._idle:
            if session_id in self._active:
                self._active[session_id] -= 1
                if not self._active[session_id]:
                    del self._active[session_id]
            self._idle.notify_all()

    def _schedule_later(self, session_id: str, delay: float,
                        schedule: Callable[[str], None] | None = None) -> None:
        """Run ``schedule`` (a fold check by default) for the session again after
        ``delay`` seconds (a retry, or a lease that may have expired), on a daemon timer
        that ``close`` cancels."""
        schedule = schedule or self._schedule
        key = f"{schedule.__name__}:{session_id}"

        def fire() -> None:
            with self._idle:
                self._timers.pop(key, None)
            schedule(session_id)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._idle:
            if self._closed:
                return
            old = self._timers.pop(key, None)
            self._timers[key] = timer
        if old is not None:
            old.cancel()
        timer.start()

    def _run_fold(self, session_id: str) -> None:
        with self._idle:
            self._queued.discard(session_id)
        try:
            if self._closed:
                return
            _, blocked = self._fold(session_id)
            with self._idle:
                self._attempts.pop(session_id, None)
                # Blocked by our own fold of it (another thread here) is not "waiting":
                # that fold re-checks the session before it lets go.
                blocked = blocked and session_id not in self._folding
                if blocked:
                    self._progress[session_id] = FoldProgress(session_id, "waiting")
                elif session_id not in self._folding:
                    self._progress.pop(session_id, None)
            self._notify("progress", session_id)
            if blocked:  # another worker holds the lease: look again when it may be free
                self._schedule_later(session_id, min(self.lease_seconds, LEASE_RECHECK))
        except BaseException as exc:  # noqa: BLE001 - logged, retried, never raised here
            self._failed(session_id, exc)
        finally:
            self._job_done(session_id)

    def _failed(self, session_id: str, exc: BaseException) -> None:
        """Record the failure where users look, and retry with backoff."""
        self.last_fold_error = exc
        if self._closed:
            return
        with self._idle:
            attempt = self._attempts.get(session_id, 0) + 1
            self._attempts[session_id] = attempt
        if attempt > MAX_RETRIES:
            log.warning("motorhead: fold of session %r failed %d times; the next write retries"
                        ": %s", session_id, attempt, exc)
            with self._idle:
                self._attempts.pop(session_id, None)
                self._progress.pop(session_id, None)
            self._notify("progress", session_id)
            return
        delay = min(RETRY_BASE * 2 ** (attempt - 1), RETRY_MAX)
        retry_at = datetime.now(tz=timezone.utc) + timedelta(seconds=delay)
        with self._idle:
            self._progress[session_id] = FoldProgress(session_id, "retrying", error=str(exc),
                                                      retry_at=retry_at)
        self._notify("progress", session_id)
        log.warning("motorhead: fold of session %r failed (retrying in %g s): %s",
                    session_id, delay, exc)
        self._schedule_later(session_id, delay)

    # -- background embedding --------------------------------------------------------

    def _schedule_index(self, session_id: str) -> None:
        if self._indexer is not None:
            self._submit(session_id, self._index_queued, "_index_pool", 1, self._run_index,
                         "motorhead-index")

    def _run_index(self, session_id: str) -> None:
        """Embed the session's new messages once its writes pause (:data:`INDEX_QUIET`,
        at most :data:`INDEX_MAX_DELAY` after the job was queued): embedding competes with
        the writer for the CPU and the GIL, so a burst of writes is embedded after it, in
        one go. ``wait()`` does not wait for the pause."""
        assert self._indexer is not None
        queued = time.monotonic()
        with self._idle:
            while not self._closed and not self._waiters:
                now = time.monotonic()
                start = min(self._last_write.get(session_id, 0.0) + INDEX_QUIET,
                            queued + INDEX_MAX_DELAY)
                if now >= start:
                    break
                self._idle.wait(start - now)
            self._index_queued.discard(session_id)
        try:
            if not self._closed:
                self._indexer.index(session_id)
                with self._idle:
                    self._index_attempts.pop(session_id, None)
        except BaseException as exc:  # noqa: BLE001 - logged and retried, never raised here
            self._indexer.failed(session_id, exc)
            with self._idle:
                attempt = self._index_attempts.get(session_id, 0) + 1
                self._index_attempts[session_id] = attempt
            if attempt <= MAX_RETRIES and not self._closed:
                self._schedule_later(session_id, min(RETRY_BASE * 2 ** (attempt - 1), RETRY_MAX),
                                     self._schedule_index)
        finally:
            self._job_done(session_id)

    @property
    def last_index_error(self) -> BaseException | None:
        """Why embedding last stopped (it is retried), else None."""
        return self._indexer.last_error if self._indexer else None

    def fold(self, session_id: str) -> int:
        """Fold the session now, in this thread, while its window exceeds ``W``; returns
        how many summaries landed (0 if another worker holds the lease)."""
        return self._fold(session_id)[0]

    def _fold(self, session_id: str) -> tuple[int, bool]:
        """(summaries landed, whether another worker's lease stopped us)."""
        if self.summarizer is None:
            return 0, False
        landed = 0
        # Checked again after the lease is released: a write that landed after our last
        # read scheduled a fold that found the lease taken and gave up.
        while self._state_if_fold_needed(session_id) is not None:
            token = self.store.acquire_lease(session_id, self.lease_seconds)
            if token is None:
                return landed, True
            with self._idle:
                self._folding.add(session_id)
            try:
                while (state := self._state_if_fold_needed(session_id)) is not None:
                    # The fold rule's point, reached in bounded steps.
                    target = state.last_seq - self.window_size // 2
                    while state is not None and state.through_seq < target:
                        if self._closed:
                            return landed, False
                        step = self._fold_once(session_id, state, target, token)
                        before, state = state, self.store.fold_state(session_id)
                        if not step and state == before:
                            break  # nothing to fold after all: leave it to the next write
                        landed += step
            finally:
                with self._idle:
                    self._folding.discard(session_id)
                self.store.release_lease(session_id, token)
        return landed, False

    def _state_if_fold_needed(self, session_id: str) -> FoldState | None:
        state = self.store.fold_state(session_id)
        if state is None or state.last_seq - state.through_seq <= self.window_size:
            return None
        return state

    def _fold_once(self, session_id: str, state: FoldState, target: int, token: str) -> int:
        """One bounded step of folding ``state`` towards ``target``; lands only if the
        session is still exactly there."""
        summarizer = self.summarizer.resolve()  # type: ignore[union-attr]
        lines = self.store.history(session_id, state.through_seq + 1, target - state.through_seq)
        if not lines:
            return 0
        lines = lines[:summarizer.step(lines)]
        backlog = target - state.through_seq
        folded = summarizer.fold(state.context, lines,
                                 self._chunk_reporter(session_id, backlog, token))
        if not self.store.add_summary(session_id, state.epoch, state.summary_count,
                                      lines[-1].seq, folded.context, folded.tokens_used,
                                      folded.usage):
            return 0
        self.last_fold_error = None
        self._notify("fold", session_id)
        return 1

    def _chunk_reporter(self, session_id: str, backlog: int,
                        token: str) -> Callable[[int, int], None]:
        """Before each LLM call: say how far the fold is, and renew the lease, so a long
        fold that makes progress is never repeated by a second worker."""

        def report(done: int, chunks: int) -> None:
            # lease_seconds <= 0 turns leases off (the compare-and-set alone protects).
            if self.lease_seconds > 0 and not self.store.renew_lease(session_id, token,
                                                                    self.lease_seconds):
                raise SummaryFailed("lost the fold's lease (it expired); another worker "
                                    "may fold the session now")
            with self._idle:
                self._progress[session_id] = FoldProgress(session_id, "summarizing", done,
                                                          chunks, backlog)
            self._notify("progress", session_id)

        return report


INDEX_QUIET = 0.5  # seconds without writes to a session before its messages are embedded
INDEX_MAX_DELAY = 5.0  # but never later than this after the first write waiting for it
LEASE_RECHECK = 30.0  # seconds before a session whose lease was busy is looked at again
RETRY_BASE, RETRY_MAX, MAX_RETRIES = 1.0, 60.0, 6  # 1, 2, 4, 8, 16, 32 s, then wait for a write
