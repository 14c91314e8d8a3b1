"""Additive routes upstream lacks (its issue #83): full history, summaries, waits, forks,
search with scores.

Clients that only know the upstream API never call these; ``RemoteMemory``
uses them to offer the whole Memory protocol over HTTP.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import inputs as parsing
from .errors import ApiError
from .routes import OK, memory_of, semantic

MAX_HISTORY_PAGE = 1000
MAX_WAIT_SECONDS = 600.0


async def get_window(request: Request) -> Response:
    """The window chronologically with every message field, the context and its summary
    (``MemoryView.to_dict()``), plus the server's window size."""
    memory = memory_of(request)
    view = await memory.aget(parsing.session_id(request))
    return JSONResponse({**view.to_dict(), "window_size": memory.window_size})


async def get_messages(request: Request) -> Response:
    """Every message with ``seq >= cursor``, chronological, ``limit`` per page;
    ``next_cursor`` is null on the last page."""
    sid = parsing.session_id(request)
    cursor = parsing.query_int(request, "cursor", 0, minimum=0)
    limit = parsing.query_int(request, "limit", 100, maximum=MAX_HISTORY_PAGE)
    messages = await memory_of(request).ahistory(sid, cursor, limit)
    next_cursor = messages[-1].seq + 1 if len(messages) == limit else None
    return JSONResponse({"messages": [m.to_dict() for m in messages],
                         "next_cursor": next_cursor})


async def get_summaries(request: Request) -> Response:
    """Every summary of the session, oldest first (the last one is current)."""
    summaries = await memory_of(request).asummaries(parsing.session_id(request))
    return JSONResponse({"summaries": [s.to_dict() for s in summaries]})


async def session_infos(request: Request) -> Response:
    """Counts of every session (or of those named by repeated ``id``), by last write."""
    ids = request.query_params.getlist("id") or None
    infos = await memory_of(request).asession_infos(ids)
    return JSONResponse({"sessions": [i.to_dict() for i in infos]})


async def fork(request: Request) -> Response:
    """Copy the session up to ``at`` (default: all) into ``new_id``, inside the store;
    400 for an unknown source, an existing ``new_id`` or an ``at`` beyond the log."""
    body = await parsing.read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("new_id"), str):
        raise ApiError(400, "body must be a JSON object with a string `new_id`")
    at = body.get("at")
    if isinstance(at, float) and at.is_integer():  # JSON's 5.0 is the integer 5
        at = int(at)
    new_id = await memory_of(request).afork(parsing.session_id(request), body["new_id"], at)
    return JSONResponse({"session_id": new_id})


async def search(request: Request) -> Response:
    """The session's messages nearest ``text``, best first, with their scores (``Hit``),
    and why the search fell back to words if it did (``note``). By words always; by
    meaning or both (the default then) when the server has an embedder."""
    sid = parsing.session_id(request)
    text, k, mode, before = parsing.search_body(await parsing.read_json(request))
    if mode in ("semantic", "hybrid") and not semantic(request):
        raise ApiError(400, f"{mode} search needs an embedder, and this server has none:"
                            " start it with --long-term-memory --embeddings local")
    result = await memory_of(request).asearch_result(sid, text, k, mode=mode, before=before)
    return JSONResponse(result.to_dict())


async def _wait(request: Request, sid: str | None) -> Response:
    """``await_idle`` runs the blocking wait on threads of the memory's own (so waits never
    starve the threads that serve ordinary requests); a timeout is a 504, the server's
    shutdown a 503 at once (this process will not finish the work)."""
    timeout = parsing.query_float(request, "timeout", 30.0, MAX_WAIT_SECONDS)
    shutdown = request.app.state.shutdown
    await shutdown.unless_begun(memory_of(request).await_idle(sid, timeout))
    return JSONResponse(OK)


async def wait_session(request: Request) -> Response:
    """Block until this server's background folds of the session are done (504 on timeout)."""
    return await _wait(request, parsing.session_id(request))


async def wait_all(request: Request) -> Response:
    """Block until all of this server's background folds are done (504 on timeout)."""
    return await _wait(request, None)
