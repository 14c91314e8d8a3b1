"""The upstream Motörhead routes (MOTORHEAD-API.md), answered by the Memory protocol.

Route functions only parse, await the memory's async twins (the memory decides
what runs on a worker thread) and shape the reply exactly as upstream clients
expect it. ``/sessions/{id}/memory`` is one endpoint with three methods, so a
wrong method is a 405 naming the allowed ones and HEAD answers as GET.
"""

from __future__ import annotations

import time

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..memory import Memory
from ..records import MAX_PAGE
from . import inputs as parsing

OK = {"status": "Ok"}


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
        return PlainTextResponse(f"Page size must not exceed {MAX_PAGE}", status_code=400)
    ids = await memory_of(request).asessions(parsing.namespace(request))
    return JSONResponse(ids[(page - 1) * size : page * size])


class SessionMemory(HTTPEndpoint):
    """``/sessions/{id}/memory``: GET (and HEAD), POST, DELETE; other methods 405 with Allow."""

    async def get(self, request: Request) -> Response:
        """The window, newest first, as upstream answers it; unknown sessions are empty."""
        view = await memory_of(request).aget(parsing.session_id(request))
        return JSONResponse({
            "messages": [{"role": m.role, "content": m.content} for m in reversed(view.messages)],
            "context": view.context,
            "tokens": view.tokens,
        })

    async def post(self, request: Request) -> Response:
        """Append messages in array order (one transaction); a ``context`` replaces the
        summary."""
        sid = parsing.session_id(request)
        messages, context = parsing.memory_body(await parsing.read_json(request))
        await memory_of(request).aadd(sid, messages, context=context,
                                      namespace=parsing.namespace(request))
        return JSONResponse(OK)

    async def delete(self, request: Request) -> Response:
        """Hard delete of everything of the session (fine for unknown ids)."""
        await memory_of(request).adelete(parsing.session_id(request))
        return JSONResponse(OK)


async def retrieval(request: Request) -> Response:
    """Long-term memory (vector search) is not offered, as upstream without it enabled."""
    return PlainTextResponse("Long term memory is disabled", status_code=400)
