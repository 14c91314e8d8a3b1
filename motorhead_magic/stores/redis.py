"""The Redis store: many kernels and server replicas on one Redis.

Every write and every consistent read is one Lua script (``redis_scripts.py``), so it
is atomic on the server whatever the number of clients. Keys (``{p}`` is the prefix,
``mhm`` by default; ids are used verbatim, so any text is safe):

- ``{p}:s:{id}:meta``  hash: epoch, last_seq, through_seq, summary_count,
  tokens_used, context, last_write (µs)
- ``{p}:s:{id}:msgs``  list of JSON messages; list index == seq
- ``{p}:s:{id}:sums``  list of JSON summaries, oldest first
- ``{p}:s:{id}:ns``    set of namespaces the session was written under
- ``{p}:s:{id}:lease`` the fold lease (``SET NX PX``)
- ``{p}:sessions`` / ``{p}:ns:{ns}``  sorted sets scored by ``{p}:clock`` (write order)

This module holds the key layout and the queries; the client, the meaning of Redis'
errors and the group-committed appends are :class:`~.redis_connection.RedisConnection`'s.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Sequence
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
from .base import FoldState, VectorRow, columns_from_messages, fork_refused
from .redis_connection import AppendOp, RedisConnection, close_on_loop
from .redis_scripts import (
    ADD_SUMMARY,
    ADD_VECTORS,
    AT,
    FORK,
    HISTORY,
    RELEASE,
    RENEW,
    VECTORS,
    VIEW,
    WORDS,
)
from .words import WordCache

INT64_MAX = 2**63 - 1  # Redis' largest list index

META_FIELDS = ("epoch", "last_seq", "through_seq", "summary_count", "context")


def _decode(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisStore(RedisConnection):
    """A :class:`~motorhead_magic.stores.base.Store` on a Redis server."""

    fast_reads = False  # every read is a network round trip

    def __init__(self, url: str, prefix: str = "mhm", timeout: float = 10.0) -> None:
        super().__init__(url, timeout)
        self.prefix = prefix
        self._async_view: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._add_summary = self._redis.register_script(ADD_SUMMARY)
        self._view = self._redis.register_script(VIEW)
        self._history = self._redis.register_script(HISTORY)
        self._release = self._redis.register_script(RELEASE)
        self._renew = self._redis.register_script(RENEW)
        self._fork = self._redis.register_script(FORK)
        self._words_feed = self._redis.register_script(WORDS)
        self._at = self._redis.register_script(AT)
        self._vectors = self._redis.register_script(VECTORS)
        self._add_vectors = self._redis.register_script(ADD_VECTORS)
        self._words = WordCache(self._word_rows)
        self._call(self._redis.ping)

    def close(self) -> None:
        super().close()
        view, self._async_view = self._async_view, None
        if view is not None:
            close_on_loop(view[0], view[1].registered_client.aclose)
        self._words.close()

    def _key(self, session_id: str, part: str) -> str:
        return f"{self.prefix}:s:{session_id}:{part}"

    def _messages(self, session_id: str, first_seq: int, rows: list[bytes],
                  through_seq: int) -> list[Message]:
        """List rows from ``first_seq`` on, parsed with one ``json.loads`` (per-row calls
        were a third of a GET's CPU time)."""
        parsed = json.loads(b"[" + b",".join(rows) + b"]")
        return [
            Message(session_id, seq, d["role"], d["content"], d["tokens"],
                    utc_from_micros(d["created_at"]), d.get("metadata") or {},
                    seq <= through_seq)
            for seq, d in enumerate(parsed, start=first_seq)
        ]

    def _summary(self, session_id: str, raw: bytes) -> Summary:
        d = json.loads(raw)
        return Summary(session_id, d["through_seq"], d["context"], d["tokens_used"],
                       utc_from_micros(d["created_at"]), d.get("usage") or {})

    # -- writes ----------------------------------------------------------------------

    def append(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        return self._queue_append(self._append_op(session_id, messages, context, namespace))

    async def aappend(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        context: str | None = None,
        namespace: str | None = None,
    ) -> int:
        """:meth:`append` for an event loop: awaited, no thread held."""
        return await self._aqueue_append(
            self._append_op(session_id, messages, context, namespace))

    def _append_op(self, session_id: str, messages: Sequence[NewMessage], context: str | None,
                   namespace: str | None) -> AppendOp:
        """The keys and arguments of one APPEND script call."""
        now = now_micros()
        rows = [
            json.dumps({"role": m.role, "content": m.content, "tokens": m.tokens,
                        "created_at": now, "metadata": m.metadata})
            for m in messages
        ]
        keys = [self._key(session_id, p) for p in ("meta", "msgs", "sums", "ns")]
        keys += [f"{self.prefix}:sessions", f"{self.prefix}:clock",
                 f"{self.prefix}:ns:{namespace or ''}", session_id]
        args = [os.urandom(16).hex(), now, context or "", "1" if context is not None else "0",
                namespace or "", *rows]
        return keys, args

    def delete(self, session_id: str) -> None:
        namespaces = self._call(self._redis.smembers, self._key(session_id, "ns"))
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(*(self._key(session_id, p) for p in ("meta", "msgs", "sums", "ns", "vec")))
        pipe.zrem(f"{self.prefix}:sessions", session_id)
        for ns in namespaces:
            pipe.zrem(f"{self.prefix}:ns:{_decode(ns)}", session_id)
        self._call(pipe.execute)

    def add_summary(
        self, session_id: str, epoch: str, expected_count: int, through_seq: int,
        context: str, tokens_used: int, usage: dict[str, Any] | None = None,
    ) -> bool:
        row = json.dumps({"through_seq": through_seq, "context": context,
                          "tokens_used": tokens_used, "created_at": now_micros(),
                          "usage": usage or {}})
        keys = [self._key(session_id, "meta"), self._key(session_id, "sums")]
        args = [epoch, expected_count, through_seq, row, context, tokens_used]
        return bool(self._call(self._add_summary, keys=keys, args=args))

    def acquire_lease(self, session_id: str, seconds: float) -> str | None:
        token = uuid.uuid4().hex
        ok = self._call(self._redis.set, self._key(session_id, "lease"), token, nx=True,
                        px=max(1, int(seconds * 1000)))
        return token if ok else None

    def release_lease(self, session_id: str, token: str) -> None:
        self._call(self._release, keys=[self._key(session_id, "lease")], args=[token])

    def renew_lease(self, session_id: str, token: str, seconds: float) -> bool:
        return bool(self._call(self._renew, keys=[self._key(session_id, "lease")],
                               args=[token, max(1, int(seconds * 1000))]))

    def fork(self, session_id: str, new_id: str, at: int | None = None) -> int:
        keys = [self._key(session_id, p) for p in ("meta", "msgs", "sums")]
        keys += [self._key(new_id, p) for p in ("meta", "msgs", "sums")]
        keys += [f"{self.prefix}:sessions", f"{self.prefix}:clock", session_id,
                 self._key(session_id, "vec"), self._key(new_id, "vec")]
        answer = self._call(self._fork, keys=keys,
                            args=[-1 if at is None else at, uuid.uuid4().hex, now_micros(),
                                  new_id])
        if isinstance(answer, bytes):
            raise fork_refused(_decode(answer), session_id, new_id, at)
        return int(answer)

    def add_vectors(self, session_id: str, epoch: str, rows: Sequence[VectorRow]) -> bool:
        args: list[Any] = [epoch]
        for seq, model, blob in rows:
            args += [seq, model.encode() + b"\0" + blob]
        keys = [self._key(session_id, "meta"), self._key(session_id, "vec")]
        return bool(self._call(self._add_vectors, keys=keys, args=args))

    # -- reads -----------------------------------------------------------------------

    def search_words(self, session_id: str, text: str, limit: int,
                     before: int | None = None) -> list[tuple[Message, float]]:
        found = self._words.search(session_id, text, limit, before)
        messages = {m.seq: m for m in self.messages_at(session_id, [seq for seq, _ in found])}
        return [(messages[seq], score) for seq, score in found if seq in messages]

    def _word_rows(self, session_id: str, start: int) -> tuple[str | None, list[tuple[int, str]]]:
        """The word cache's feed: the epoch and ``(seq, content)`` from ``start`` on."""
        keys = [self._key(session_id, "meta"), self._key(session_id, "msgs")]
        raw = self._call(self._words_feed, keys=keys, args=[start])
        if not raw:
            return None, []
        parsed = json.loads(b"[" + b",".join(raw[1]) + b"]")
        return _decode(raw[0]), [(start + i, d["content"]) for i, d in enumerate(parsed)]

    def messages_at(self, session_id: str, seqs: Sequence[int]) -> list[Message]:
        wanted = [seq for seq in dict.fromkeys(seqs) if 0 <= seq <= INT64_MAX]
        if not wanted:
            return []
        keys = [self._key(session_id, "meta"), self._key(session_id, "msgs")]
        raw = self._call(self._at, keys=keys, args=wanted)
        if not raw:
            return []
        through = int(raw[0])
        found = {int(seq): self._messages(session_id, int(seq), [row], through)[0]
                 for seq, row in raw[1]}
        return [found[seq] for seq in seqs if seq in found]

    def vector_rows(self, session_id: str, start: int = 0) -> tuple[str | None, list[VectorRow]]:
        keys = [self._key(session_id, "meta"), self._key(session_id, "vec")]
        raw = self._call(self._vectors, keys=keys, args=[min(start, INT64_MAX)])
        if not raw:
            return None, []
        rows: list[VectorRow] = []
        for seq, value in raw[1]:
            model, _, blob = value.partition(b"\0")
            rows.append((int(seq), model.decode(), blob))
        return _decode(raw[0]), rows


    def fold_state(self, session_id: str) -> FoldState | None:
        raw = self._call(self._redis.hmget, self._key(session_id, "meta"), META_FIELDS)
        if raw[0] is None:
            return None
        epoch, last_seq, through_seq, count, context = raw
        return FoldState(_decode(epoch), int(last_seq), int(through_seq), int(count),
                         None if context is None else _decode(context))

    def view(self, session_id: str, limit: int) -> MemoryView:
        keys = [self._key(session_id, p) for p in ("meta", "msgs", "sums")]
        return self._parse_view(session_id, self._call(self._view, keys=keys, args=[limit]))

    async def aview(self, session_id: str, limit: int) -> MemoryView:
        """:meth:`view` for an event loop (the server's GET): the round trip is awaited
        instead of holding a worker thread, which doubled GET throughput."""
        if self._closed:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        view = self._async_view  # once: close() may set it to None meanwhile
        if view is None or view[0] is not loop:
            view = self._async_view = (loop, self._async_client().register_script(VIEW))
        keys = [self._key(session_id, p) for p in ("meta", "msgs", "sums")]
        try:
            raw = await view[1](keys=keys, args=[limit])
        except Exception as exc:
            error = self._error(exc)
            if error is exc:
                raise
            raise error from exc
        return self._parse_view(session_id, raw)

    def _parse_view(self, session_id: str, raw: Any) -> MemoryView:
        if not raw:
            return MemoryView(session_id, [], None, 0)
        _, through, tokens, context, first, rows, current = raw
        through = int(through)
        messages = self._messages(session_id, int(first), rows, through)
        summary = self._summary(session_id, current) if current else None
        return MemoryView(session_id, messages, _decode(context) if context else None,
                          int(tokens), summary)

    def history(self, session_id: str, start: int = 0, limit: int | None = None) -> list[Message]:
        if limit == 0 or start > INT64_MAX:  # past any index Redis can hold: as past the end
            return []
        stop = -1 if limit is None or start + limit - 1 > INT64_MAX else start + limit - 1
        keys = [self._key(session_id, "meta"), self._key(session_id, "msgs")]
        raw = self._call(self._history, keys=keys, args=[start, stop])
        if not raw:
            return []
        through = int(raw[0])
        return self._messages(session_id, start, raw[1], through)

    def summaries(self, session_id: str) -> list[Summary]:
        rows = self._call(self._redis.lrange, self._key(session_id, "sums"), 0, -1)
        return [self._summary(session_id, r) for r in rows]

    def session_ids(self, namespace: str | None = None) -> list[str]:
        key = f"{self.prefix}:sessions" if namespace is None else f"{self.prefix}:ns:{namespace}"
        return [_decode(r) for r in self._call(self._redis.zrange, key, 0, -1)]

    def session_infos(self, window_size: int,
                      ids: Sequence[str] | None = None) -> list[SessionInfo]:
        if ids is None:
            ids = self.session_ids()
        else:
            ids = list(dict.fromkeys(ids))
            pipe = self._redis.pipeline(transaction=False)
            for sid in ids:
                pipe.zscore(f"{self.prefix}:sessions", sid)
            order = self._call(pipe.execute)
            ids = [sid for _, sid in sorted((o, sid) for o, sid in zip(order, ids)
                                            if o is not None)]
        pipe = self._redis.pipeline(transaction=False)
        for sid in ids:
            pipe.hmget(self._key(sid, "meta"), "last_seq", "through_seq", "summary_count",
                       "last_write", "parent", "forked_at")
        metas = self._call(pipe.execute)
        pipe = self._redis.pipeline(transaction=False)
        for sid, (last, through, *_) in zip(ids, metas):
            first = max(int(through or -1), int(last or -1) - window_size) + 1
            pipe.lrange(self._key(sid, "msgs"), first, int(last or -1))
        windows = self._call(pipe.execute)
        return [
            SessionInfo(sid, int(last) + 1, int(count), utc_from_micros(int(written)),
                        sum(json.loads(r)["tokens"] for r in window),
                        None if parent is None else _decode(parent),
                        None if forked_at is None else int(forked_at))
            for sid, (last, _, count, written, parent, forked_at), window
            in zip(ids, metas, windows) if last is not None
        ]

    def export_columns(self, session_id: str | None = None) -> dict[str, list[Any]]:
        ids = [session_id] if session_id is not None else sorted(self.session_ids())
        return columns_from_messages(m for sid in ids for m in self.history(sid))
