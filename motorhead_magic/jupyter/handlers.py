"""HTTP API of the JupyterLab sidebar (``/motorhead-magic/api/``).

Thin on purpose: parse the request, await the ``Memory`` protocol's async twins
(the memory runs its blocking store calls on worker threads, so the server's
event loop never blocks), shape JSON. Paging happens here so the browser never
receives a whole store: 10,000 sessions or a 10,000-message history cost one
small page each. ``/search`` finds sessions by id and by what their messages say
(``search.py``: a bounded loop of per-session searches). Errors come from one table:
a ``MotorheadError`` answers its ``http_status``, as on the Motörhead server. A store
that cannot be reached (503) is said so in the body without the store's host, path or
password: the detail, redacted, goes to the server log.

The server's memory is its own process, not a kernel's, so the sidebar shows what the
store can tell (counts, the summary point, messages after it), never the window size
a kernel uses; ``progress`` lists background work only when the store records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import tornado.web
from anyio import to_thread
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import MotorheadError, StoreUnavailable
from ..memory import Memory, connect
from ..params import bounded_int
from ..settings import redact
from .search import search_sessions

API_PREFIX = "motorhead-magic/api"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
DEFAULT_HISTORY_LIMIT = 100
SETTINGS_KEY = "motorhead_magic"
# What a 503 body says: what failed, never where (hosts, paths and passwords are in
# the exception's text, which goes to the server log, redacted).
# Cross-session searches running at once per server; more wait their turn.
CONCURRENT_SEARCHES = 2
STORE_UNAVAILABLE = "memory store unavailable (details in the Jupyter server log)"
CANNOT_OPEN = "cannot open the memory store (details in the Jupyter server log)"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")

T = TypeVar("T")


class StoreCannotOpen(StoreUnavailable):
    """The server's store could not be opened (a bad or unreachable MOTORHEAD_URL)."""


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (passwords of userinfo and query)."""

    def one(match: re.Match[str]) -> str:
        try:
            return redact(match.group(0))
        except ValueError:  # not parseable as a URL (e.g. a bad IPv6 host): hide it all
            return "<url>"

    return _URL.sub(one, text)


def public_message(exc: MotorheadError) -> str:
    """What the HTTP body may say about ``exc``: a 503 says what failed, not where."""
    if isinstance(exc, StoreCannotOpen):
        return CANNOT_OPEN
    if exc.http_status == StoreUnavailable.http_status:
        return STORE_UNAVAILABLE
    return str(exc)


class MemoryService:
    """One lazily opened Memory per server. Opening may block (a Redis or remote URL
    connects), so it runs once on a worker thread, never on the event loop."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._memory: Memory | None = None
        self._opening: asyncio.Lock | None = None
        self._searches: Any = None

    @property
    def searches(self) -> Any:
        """The worker threads cross-session searches may hold at once (created on the
        server's loop, on first use)."""
        if self._searches is None:
            from anyio import CapacityLimiter

            self._searches = CapacityLimiter(CONCURRENT_SEARCHES)
        return self._searches

    async def memory(self) -> Memory:
        if self._memory is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:  # concurrent first requests open it once
                if self._memory is None:
                    try:
                        self._memory = await to_thread.run_sync(connect, self._url)
                    except MotorheadError as exc:  # a bad MOTORHEAD_URL is the server's problem
                        raise StoreCannotOpen(f"cannot open the memory store: {exc}") from exc
        return self._memory

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None


async def list_sessions(memory: Memory, page: int, size: int, query: str) -> dict[str, Any]:
    """One page of sessions, newest write first, filtered by a case-insensitive substring.
    Only the page's sessions are counted, so a page costs the same at 10 or 100,000.
    Each is ``SessionInfo.to_dict()``: a fork's ``parent`` and ``forked_at`` included."""
    ids = await memory.asessions()  # ascending last write
    needle = query.casefold()
    if needle:
        ids = [i for i in ids if needle in i.casefold()]
    total = len(ids)
    end = total - (page - 1) * size
    chunk = await memory.asession_infos(ids[max(0, end - size):max(0, end)]) if end > 0 else []
    return {
        "sessions": [i.to_dict() for i in reversed(chunk)],
        "total": total,
        "page": page,
        "size": size,
        "pages": max(1, -(-total // size)),
        "query": query,
    }


async def session_detail(memory: Memory, session_id: str) -> dict[str, Any] | None:
    """The window as ``MemoryView.to_dict()`` (the server's ``/window`` shape) plus what
    the store can tell: the counts, ``after_summary`` (messages after the summary point,
    i.e. not yet summarized) and ``progress`` (one line per background fold the memory
    knows of); ``parent`` and ``forked_at`` (where a fork came from, else None); None
    for a session that has nothing. No window size: that is the kernels' setting, which
    the server cannot know."""
    view = await memory.aget(session_id)
    summaries = await memory.asummaries(session_id)
    if view.message_count == 0 and not summaries:
        return None
    info = next(iter(await memory.asession_infos([session_id])), None)
    last_write = view.messages[-1].created_at.isoformat() if view.messages else None
    point = view.summary.through_seq + 1 if view.summary is not None else 0
    # Background work the store can tell of (another process's folds are invisible
    # until the stores record progress); a worker thread, as it may read the store.
    progress = await to_thread.run_sync(memory.progress, session_id)
    return {
        **view.to_dict(),
        "message_count": view.message_count,
        "summary_count": len(summaries),
        "after_summary": max(0, view.message_count - max(0, point)),
        "last_write": last_write,
        "progress": [p.describe() for p in progress],
        "parent": info.parent if info is not None else None,
        "forked_at": info.forked_at if info is not None else None,
    }


async def history_page(memory: Memory, session_id: str, cursor: int | None,
                       limit: int) -> dict[str, Any]:
    """Messages with ``seq < cursor`` (default: the end), the newest ``limit`` of them.

    Paging backwards from the end is what a chat view needs: the latest turns
    first, older ones on demand. ``next_cursor`` is None at the beginning.
    """
    total = (await memory.aget(session_id)).message_count
    end = total if cursor is None else max(0, min(cursor, total))
    start = max(0, end - limit)
    messages = await memory.ahistory(session_id, start, end - start) if end > start else []
    return {
        "session_id": session_id,
        "messages": [m.to_dict() for m in messages],
        "total": total,
        "start": start,
        "end": end,
        "next_cursor": start if start > 0 else None,
    }


@contextlib.contextmanager
def http_errors(log: logging.Logger | None = None) -> Iterator[None]:
    """The one error mapping: a ``MotorheadError`` becomes its ``http_status``. A 503's
    body says what failed; its detail (hosts, paths) goes to ``log``, redacted."""
    try:
        yield
    except MotorheadError as exc:
        message = public_message(exc)
        if message != str(exc) and log is not None:
            log.warning("motorhead_magic: sidebar API answered %d: %s", exc.http_status,
                        redact_text(str(exc)))
        raise tornado.web.HTTPError(exc.http_status, "%s", message) from exc


class BaseHandler(APIHandler):
    """Shared error shaping: every failure is JSON ``{"error": ...}`` with a real status."""

    @property
    def service(self) -> MemoryService:
        return self.settings[SETTINGS_KEY]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        message = self._reason
        if exc_info is not None:
            exc = exc_info[1]
            if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
                message = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message, "status": status_code}))

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(memory, *args)``, opening the memory on first use."""
        with http_errors(self.log):
            return await fn(await self.service.memory(), *args)

    def int_arg(self, name: str, default: int | None, lo: int, hi: int | None = None) -> int | None:
        """The query value ``name`` in bounds (the server's parser); absent or empty: default."""
        with http_errors():
            return bounded_int(name, self.get_query_argument(name, None) or None, default, lo, hi)


class SessionsHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        page = self.int_arg("page", 1, 1)
        size = self.int_arg("size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        query = self.get_query_argument("q", "")
        self.finish(await self.call(list_sessions, page, size, query))


class SearchHandler(BaseHandler):
    """Sessions by id or by message content, with their matching lines (``search.py``).
    Paged as the list is; an empty ``q`` matches nothing. A browser that goes away (the
    user typed on) stops the scan."""

    def initialize(self) -> None:
        self.stop = threading.Event()

    def on_connection_close(self) -> None:
        self.stop.set()

    @tornado.web.authenticated
    async def get(self) -> None:
        page = self.int_arg("page", 1, 1)
        size = self.int_arg("size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        query = self.get_query_argument("q", "")
        self.finish(await self.call(search_sessions, query, page, size, self.stop,
                                    self.service.searches))


class SessionHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, session_id: str) -> None:
        detail = await self.call(session_detail, session_id)
        if detail is None:
            raise tornado.web.HTTPError(404, "no session %r", session_id)
        self.finish(detail)

    @tornado.web.authenticated
    async def delete(self, session_id: str) -> None:
        await self.call(lambda memory, sid: memory.adelete(sid), session_id)
        self.set_status(204)
        self.finish()


class HistoryHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, session_id: str) -> None:
        cursor = self.int_arg("cursor", None, 0)
        limit = self.int_arg("limit", DEFAULT_HISTORY_LIMIT, 1, MAX_PAGE_SIZE)
        page = await self.call(history_page, session_id, cursor, limit)
        self.finish(page)


class SummariesHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, session_id: str) -> None:
        summaries = await self.call(lambda memory, sid: memory.asummaries(sid), session_id)
        self.finish({"session_id": session_id,
                     "summaries": [s.to_dict() for s in summaries]})


def setup_handlers(web_app: Any, url: str | None = None) -> None:
    """Register the routes. Ids travel percent-encoded in one path segment
    (``/`` as ``%2F``); tornado unquotes the captured group exactly once."""
    web_app.settings.setdefault(SETTINGS_KEY, MemoryService(url))
    base = url_path_join(web_app.settings["base_url"], API_PREFIX)
    segment = r"([^/]+)"
    web_app.add_handlers(".*$", [
        (url_path_join(base, "sessions"), SessionsHandler),
        (url_path_join(base, "search"), SearchHandler),
        (url_path_join(base, "sessions", segment), SessionHandler),
        (url_path_join(base, "sessions", segment, "history"), HistoryHandler),
        (url_path_join(base, "sessions", segment, "summaries"), SummariesHandler),
    ])
