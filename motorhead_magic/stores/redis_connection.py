"""A Redis store's connection side: the client, what Redis' errors mean, and the appends.

:class:`RedisConnection` is to :class:`~.redis.RedisStore` what ``SQLiteFile`` is to
``SQLiteStore``: the store adds the key layout and the queries on top.

Appends of this process's threads that wait at the same moment go to Redis in one
pipeline (``group.py``): one round trip for all, each still its own script, on a writer
connection of their own; an event loop's appends (the server's POSTs) go the same way on
that loop's own asyncio connection, awaited. Neither is ever resent after a dropped
connection: the outcome of a script that was sent is unknown, and sending it again could
store a turn twice.

Only a failure to reach Redis (connection, timeout, a server loading, out of memory or
read-only) is a :class:`StoreUnavailable`; any other error answer is a bug (ours, or a
foreign key in our prefix) and is raised as it is.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import StoreUnavailable
from ..settings import redact
from .group import GroupCommit, Write
from .redis_scripts import APPEND

# Error answers that mean "Redis cannot take this now" (not "this call is wrong").
UNAVAILABLE_REPLIES = ("OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "NOREPLICAS",
                       "TRYAGAIN", "CLUSTERDOWN", "NOAUTH")

AppendOp = tuple[list[str], list[Any]]  # one APPEND script call: its keys and arguments


def close_on_loop(loop: asyncio.AbstractEventLoop, close: Callable[[], Awaitable[Any]]) -> None:
    """Run ``close()`` on ``loop``: an asyncio socket can only be closed by its own loop,
    and :meth:`RedisConnection.close` may run on any thread. A loop that no longer runs
    cannot: the socket goes with the last reference to it, which the caller drops."""
    if loop.is_running():
        closing = close()
        try:
            asyncio.run_coroutine_threadsafe(closing, loop)
        except RuntimeError:  # the loop closed since: close() must not raise for it
            closing.close()


class RedisConnection:
    """The client of one Redis server, and the group-committed path of its appends."""

    def __init__(self, url: str, timeout: float) -> None:
        try:
            import redis
        except ImportError:
            raise StoreUnavailable(
                "the Redis store needs redis-py: pip install 'motorhead-magic[redis]'"
            ) from None
        self.url = redact(url)
        self.commits = 0  # append round trips (each carries one or more appends)
        self._raw_url, self._timeout = url, timeout
        self._closed = False
        exceptions = redis.exceptions
        self._unavailable_errors = (
            exceptions.ConnectionError, exceptions.TimeoutError, OSError,
            exceptions.OutOfMemoryError, exceptions.ReadOnlyError, exceptions.TryAgainError,
            exceptions.ClusterDownError, exceptions.MasterDownError,
            exceptions.NoPermissionError, exceptions.InvalidResponse,
        )
        self._response_error = exceptions.ResponseError
        self._no_script = exceptions.NoScriptError
        self._connection_error = (exceptions.ConnectionError, exceptions.TimeoutError, OSError)
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=False
        )
        self._append = self._redis.register_script(APPEND)
        self._new_writer()

    def _closed_error(self) -> StoreUnavailable:
        return StoreUnavailable(f"Redis store {self.url} is closed")

    def _async_client(self) -> Any:
        """A client for the running event loop (redis-py's asyncio clients are bound to
        the loop they first ran on, so each loop gets its own)."""
        import redis.asyncio

        return redis.asyncio.Redis.from_url(
            self._raw_url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout)

    def _unavailable(self, why: object) -> StoreUnavailable:
        return StoreUnavailable(f"Redis at {self.url} failed: {why}")

    def _error(self, exc: BaseException) -> BaseException:
        """The error to raise for ``exc``: :class:`StoreUnavailable` when Redis cannot be
        reached or cannot take writes now; any other error answer unchanged (a bug)."""
        if isinstance(exc, self._unavailable_errors):
            return self._unavailable(exc)
        if isinstance(exc, self._response_error) and str(exc).startswith(
                UNAVAILABLE_REPLIES):
            return self._unavailable(exc)
        return exc

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise self._closed_error()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = self._error(exc)
            if error is exc:
                raise
            raise error from exc

    # -- appends ---------------------------------------------------------------------

    def _new_writer(self) -> None:
        """The connection appends go through: used by the group commit's leader only,
        so it needs no pool (whose checks cost a third of an append) and it never
        resends an append after a dropped connection (that could store it twice)."""
        pool = self._redis.connection_pool
        self._writer = pool.connection_class(**pool.connection_kwargs)
        self._writer_lock = threading.Lock()  # the leader, or close()
        self._writer_pid = os.getpid()
        self._async_writer: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._group = GroupCommit(self._commit, lambda write: self._unavailable("timed out"),
                                  acommit=self._acommit)

    def close(self) -> None:
        """Later calls raise :class:`StoreUnavailable`; calls in flight on other threads
        end with it (their sockets close) or with their answer. Every connection closes,
        an event loop's on that loop."""
        self._closed = True
        self._redis.close()
        self._group.close()
        self._drop_writer()
        writer, self._async_writer = self._async_writer, None
        if writer is not None:
            close_on_loop(writer[0], lambda: writer[1].disconnect(nowait=True))

    def _drop_writer(self) -> None:
        """Disconnect the writer once closed, unless a leader uses it (then the leader
        does, when it lets go: it sees ``_closed``, set before this looks)."""
        if self._writer_lock.acquire(blocking=False):
            try:
                self._writer.disconnect()
            finally:
                self._writer_lock.release()

    def _queue_append(self, op: AppendOp) -> int:
        """Run one APPEND script call in the next group commit; its answer (the last seq)."""
        self._check_writable()
        return self._group.submit(op)

    async def _aqueue_append(self, op: AppendOp) -> int:
        """:meth:`_queue_append` for an event loop: awaited, sent in the next pipelined
        round trip by a leader task on this loop (:meth:`_acommit`)."""
        self._check_writable()
        return await self._group.asubmit(op)

    def _check_writable(self) -> None:
        if self._closed:
            raise self._closed_error()
        if self._writer_pid != os.getpid():  # a forked child: never the parent's socket
            self._new_writer()

    def _commit(self, batch: list[Write]) -> None:
        """The group commit's leader: every waiting append in one round trip (pipelined
        script calls, each atomic by itself) on the writer connection."""
        with self._writer_lock:
            try:
                if self._closed:
                    for write in batch:
                        write.fail(self._closed_error())
                    return
                self._send(batch)
                again = [w for w in batch if isinstance(w.error, self._no_script)]
                if again:  # not run: Redis lost its scripts (a restart, SCRIPT FLUSH)
                    self._writer.send_command("SCRIPT", "LOAD", APPEND)
                    self._writer.read_response()
                    self._send(again)
            except Exception as exc:  # Redis unreachable: the outcome of each is unknown
                self._writer.disconnect()
                error = self._error(exc)
                for write in batch:  # those answered keep their answer
                    if not write.settled or isinstance(write.error, self._no_script):
                        write.fail(error)
            finally:
                if self._closed:
                    self._writer.disconnect()
        if self._closed:  # close() ran while we held the writer
            self._drop_writer()

    def _send(self, batch: list[Write]) -> None:
        """One round trip: every write's script call, then every answer in order."""
        writer = self._writer
        try:  # something to read before we asked: Redis closed it (restart, idle timeout)
            stale = writer.can_read()
        except self._connection_error:
            stale = True
        if stale:  # nothing was sent on it: reconnecting cannot run a script twice
            writer.disconnect()
        writer.send_packed_command(writer.pack_commands(self._script_calls(batch)))
        for write in batch:
            try:
                write.ok(int(writer.read_response()))
            except self._response_error as exc:  # this script's own error answer
                write.fail(self._error(exc))
        self.commits += 1

    def _script_calls(self, batch: list[Write]) -> list[tuple[Any, ...]]:
        return [("EVALSHA", self._append.sha, len(keys), *keys, *args)
                for keys, args in (w.op for w in batch)]

    async def _acommit(self, batch: list[Write]) -> None:
        """:meth:`_commit` on an event loop (the group commit's leader task there): the
        same round trip on this loop's own writer connection, awaited, so the server's
        POSTs need no thread. Never resent after a dropped connection either."""
        if self._closed:
            for write in batch:
                write.fail(self._closed_error())
            return
        writer = self._loop_writer()
        try:
            await self._asend(writer, batch)
            again = [w for w in batch if isinstance(w.error, self._no_script)]
            if again:  # not run: Redis lost its scripts (a restart, SCRIPT FLUSH)
                await writer.send_packed_command(writer.pack_command("SCRIPT", "LOAD", APPEND))
                await writer.read_response()
                await self._asend(writer, again)
        except BaseException as exc:  # unreachable, or cancelled: each outcome is unknown
            await writer.disconnect(nowait=True)
            error = (self._error(exc) if isinstance(exc, Exception)
                     else self._unavailable("the write was cut off (its outcome is unknown)"))
            for write in batch:  # those answered keep their answer
                if not write.settled or isinstance(write.error, self._no_script):
                    write.fail(error)
            if not isinstance(exc, Exception):
                raise

    def _loop_writer(self) -> Any:
        """This event loop's writer connection (redis-py's asyncio connection class)."""
        loop = asyncio.get_running_loop()
        writer = self._async_writer  # once: close() may set it to None meanwhile
        if writer is None or writer[0] is not loop:
            pool = self._async_client().connection_pool
            writer = self._async_writer = (loop, pool.connection_class(**pool.connection_kwargs))
        return writer[1]

    async def _asend(self, writer: Any, batch: list[Write]) -> None:
        """:meth:`_send`, awaited."""
        await asyncio.sleep(0)  # the loop reads what is waiting on the socket (a close)
        try:  # something to read before we asked: Redis closed it (restart, idle timeout)
            can_read = getattr(writer, "can_read", None) or writer.can_read_destructive  # < 8
            stale = writer.is_connected and await can_read()
        except self._connection_error:
            stale = True
        if stale:  # nothing was sent on it: reconnecting cannot run a script twice
            await writer.disconnect()
        await writer.send_packed_command(writer.pack_commands(self._script_calls(batch)))
        for write in batch:
            try:
                write.ok(int(await writer.read_response()))
            except self._response_error as exc:  # this script's own error answer
                write.fail(self._error(exc))
        self.commits += 1
