"""HTTP API of the JupyterLab sidebar (``/motorhead-magic/api/``).

Thin on purpose: parse the request, call the ``Memory`` protocol in a worker
thread (SQLite and Redis calls block, and the server's event loop must not),
shape JSON. Paging happens here so the browser never receives a whole store:
10,000 sessions or a 10,000-message history cost one small page each.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import InvalidInput, MotorheadError, StoreUnavailable
from ..memory import connect

T = TypeVar("T")

API_PREFIX = "motorhead-magic/api"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
DEFAULT_HISTORY_LIMIT = 100
SETTINGS_KEY = "motorhead_magic"


class MemoryService:
    """One lazily opened Memory per server, with its own small thread pool."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._memory: Any = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="motorhead-api")

    @property
    def memory(self) -> Any:
        with self._lock:
            if self._memory is None:
                try:
                    self._memory = connect(self._url)
                except MotorheadError as exc:  # a bad MOTORHEAD_URL is the server's problem
                    raise StoreUnavailable(f"cannot open the memory store: {exc}") from exc
            return self._memory

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        with self._lock:
            if self._memory is not None:
                self._memory.close()
                self._memory = None
        self._pool.shutdown(wait=False)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def list_sessions(memory: Any, page: int, size: int, query: str) -> dict[str, Any]:
    """One page of sessions, newest write first, filtered by a case-insensitive substring.
    Only the page's sessions are counted, so a page costs the same at 10 or 100,000."""
    ids = memory.sessions()  # ascending last write
    needle = query.casefold()
    if needle:
        ids = [i for i in ids if needle in i.casefold()]
    total = len(ids)
    end = total - (page - 1) * size
    chunk = memory.session_infos(ids[max(0, end - size):max(0, end)]) if end > 0 else []
    return {
        "sessions": [i.to_dict() for i in reversed(chunk)],
        "total": total,
        "page": page,
        "size": size,
        "pages": max(1, -(-total // size)),
        "query": query,
    }


def message_count(view: Any) -> int:
    """Seqs are dense (0..n-1), so the newest message tells the count without a scan."""
    if view.messages:
        return view.messages[-1].seq + 1
    if view.summary is not None:
        return view.summary.through_seq + 1
    return 0


def session_detail(memory: Any, session_id: str) -> dict[str, Any] | None:
    view = memory.get(session_id)
    summaries = memory.summaries(session_id)
    count = message_count(view)
    if count == 0 and not summaries:
        return None
    last_write = view.messages[-1].created_at if view.messages else None
    return {
        "session_id": session_id,
        "context": view.context,
        "tokens": view.tokens,
        "summary": view.summary.to_dict() if view.summary else None,
        "window": [m.to_dict() for m in view.messages],
        "window_size": getattr(memory, "window_size", None),
        "window_tokens": sum(m.tokens for m in view.messages),
        "messages": count,
        "summaries": len(summaries),
        "last_write": _iso(last_write),
    }


def history_page(memory: Any, session_id: str, cursor: int | None, limit: int) -> dict[str, Any]:
    """Messages with ``seq < cursor`` (default: the end), the newest ``limit`` of them.

    Paging backwards from the end is what a chat view needs: the latest turns
    first, older ones on demand. ``next_cursor`` is None at the beginning.
    """
    total = message_count(memory.get(session_id))
    end = total if cursor is None else max(0, min(cursor, total))
    start = max(0, end - limit)
    messages = memory.history(session_id, start, end - start) if end > start else []
    return {
        "session_id": session_id,
        "messages": [m.to_dict() for m in messages],
        "total": total,
        "start": start,
        "end": end,
        "next_cursor": start if start > 0 else None,
    }


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
            elif isinstance(exc, MotorheadError):
                message = str(exc)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message, "status": status_code}))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(memory, *args)`` in the worker pool; opening the store happens there too
        (a Redis or remote URL may connect), never on the event loop."""
        service = self.service
        try:
            return await service.run(lambda: fn(service.memory, *args))
        except InvalidInput as exc:
            raise tornado.web.HTTPError(400, "%s", str(exc)) from exc
        except StoreUnavailable as exc:
            raise tornado.web.HTTPError(503, "%s", str(exc)) from exc

    def int_arg(self, name: str, default: int | None, lo: int, hi: int | None = None) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, f"{name} must be an integer") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise tornado.web.HTTPError(400, f"{name} must be {bound}")
        return value


class SessionsHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        page = self.int_arg("page", 1, 1)
        size = self.int_arg("size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        query = self.get_query_argument("q", "")
        self.finish(await self.call(list_sessions, page, size, query))


class SessionHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, session_id: str) -> None:
        detail = await self.call(session_detail, session_id)
        if detail is None:
            raise tornado.web.HTTPError(404, "no session %r", session_id)
        self.finish(detail)

    @tornado.web.authenticated
    async def delete(self, session_id: str) -> None:
        await self.call(lambda memory, sid: memory.delete(sid), session_id)
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
        summaries = await self.call(lambda memory, sid: memory.summaries(sid), session_id)
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
        (url_path_join(base, "sessions", segment), SessionHandler),
        (url_path_join(base, "sessions", segment, "history"), HistoryHandler),
        (url_path_join(base, "sessions", segment, "summaries"), SummariesHandler),
    ])
