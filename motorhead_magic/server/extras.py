"""Additive routes upstream lacks (its issue #83): full history, summaries, waits.

Clients that only know the upstream API never call these; ``RemoteMemory``
uses them to offer the whole Memory protocol over HTTP.
"""

from __future__ import annotations

from anyio import CapacityLimiter, to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import inputs as parsing
from .routes import OK, memory_of

MAX_HISTORY_PAGE = 1000
MAX_WAIT_SECONDS = 600.0
WAIT_THREADS = 16


def _wait_limiter(request: Request) -> CapacityLimiter:
    """Waits block a thread for long: they get their own threads (per app), so they can
    never starve the pool that serves ordinary requests."""
    state = request.app.state
    if getattr(state, "wait_limiter", None) is None:
        state.wait_limiter = CapacityLimiter(WAIT_THREADS)
    return state.wait_limiter


async def get_window(request: Request) -> Response:
    """The window chronologically with every message field, the context and its summary."""
    view = await memory_of(request).aget(parsing.session_id(request))
    return JSONResponse({
        "messages": [m.to_dict() for m in view.messages],
        "context": view.context,
        "tokens": view.tokens,
        "summary": view.summary.to_dict() if view.summary else None,
        "window_size": memory_of(request).window_size,
    })


async def get_messages(request: Request) -> Response:
    """Every message with ``seq >= cursor``, chronological, ``limit`` per page;
    ``next_cursor`` is null on the last page."""
    sid = parsing.session_id(request)
    cursor = parsing.query_int(request, "cursor", 0, minimum=0)
    limit = parsing.query_int(request, "limit", 100, maximum=MAX_HISTORY_PAGE)
    messages = await run_in_threadpool(memory_of(request).history, sid, cursor, limit)
    next_cursor = messages[-1].seq + 1 if len(messages) == limit else None
    return JSONResponse({"messages": [m.to_dict() for m in messages],
                         "next_cursor": next_cursor})


async def get_summaries(request: Request) -> Response:
    """Every summary of the session, oldest first (the last one is current)."""
    summaries = await run_in_threadpool(memory_of(request).summaries,
                                        parsing.session_id(request))
    return JSONResponse({"summaries": [s.to_dict() for s in summaries]})


async def session_infos(request: Request) -> Response:
    """Counts of every session (or of those named by repeated ``id``), by last write."""
    ids = request.query_params.getlist("id") or None
    infos = await run_in_threadpool(memory_of(request).session_infos, ids)
    return JSONResponse({"sessions": [i.to_dict() for i in infos]})


async def _wait(request: Request, sid: str | None) -> Response:
    timeout = parsing.query_float(request, "timeout", 30.0, MAX_WAIT_SECONDS)
    await to_thread.run_sync(memory_of(request).wait, sid, timeout, limiter=_wait_limiter(request))
    return JSONResponse(OK)


async def wait_session(request: Request) -> Response:
    """Block until this server's background folds of the session are done (504 on timeout)."""
    return await _wait(request, parsing.session_id(request))


async def wait_all(request: Request) -> Response:
    """Block until all of this server's background folds are done (504 on timeout)."""
    return await _wait(request, None)
