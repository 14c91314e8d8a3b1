"""The upstream Motörhead routes (MOTORHEAD-API.md), answered by the Memory protocol.

Route functions only parse, call the memory in a worker thread (stores are
blocking) and shape the reply exactly as upstream clients expect it.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..memory import Memory
from . import inputs as parsing

OK = {"status": "Ok"}
MAX_PAGE = 100


def memory_of(request: Request) -> Memory:
    return request.app.state.memory


async def health(request: Request) -> Response:
    """Health check: the server's clock in milliseconds since the epoch."""
    return JSONResponse({"now": int(time.time() * 1000)})


async def list_sessions(request: Request) -> Response:
    """Session ids by ascending last write, ``size`` per ``page`` (1-based)."""
    page = parsing.query_int(request, "page", 1)
    size = parsing.query_int(request, "size", 10)
    if page > MAX_PAGE:
        # Upstream's exact answer (its text says "size" but it checks the page).
        return PlainTextResponse("Page size must not exceed 100", status_code=400)
    ids = await run_in_threadpool(memory_of(request).sessions, parsing.namespace(request))
    return JSONResponse(ids[(page - 1) * size : page * size])


async def get_memory(request: Request) -> Response:
    """The window, newest first, as upstream answers it; unknown sessions are empty."""
    view = await memory_of(request).aget(parsing.session_id(request))
    return JSONResponse({
        "messages": [{"role": m.role, "content": m.content} for m in reversed(view.messages)],
        "context": view.context,
        "tokens": view.tokens,
    })


async def post_memory(request: Request) -> Response:
    """Append messages in array order (one transaction); a ``context`` replaces the summary."""
    sid = parsing.session_id(request)
    messages, context = parsing.memory_body(await parsing.read_json(request))
    await run_in_threadpool(memory_of(request).add, sid, messages, context=context,
                            namespace=parsing.namespace(request))
    return JSONResponse(OK)


async def delete_memory(request: Request) -> Response:
    """Hard delete of everything of the session (fine for unknown ids)."""
    await run_in_threadpool(memory_of(request).delete, parsing.session_id(request))
    return JSONResponse(OK)


async def retrieval(request: Request) -> Response:
    """Long-term memory (vector search) is not offered, as upstream without it enabled."""
    return PlainTextResponse("Long term memory is disabled", status_code=400)
