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


RETRIEVAL_HITS = 10  # upstream's


def semantic(request: Request) -> bool:
    """Whether this server's memory has an embedder (searches by meaning)."""
    return getattr(request.app.state, "semantic", False)


async def retrieval(request: Request) -> Response:
    """Long-term memory, as upstream: the ``text``'s nearest messages of the session, at
    most 10, ascending ``dist``. With an embedder ``dist`` is the cosine distance
    (1 - cosine); by words (``--embeddings none``, or an embedder that failed just now)
    it is ``1 / (1 + BM25 score)``. Disabled: upstream's plain-text 400."""
    if not getattr(request.app.state, "long_term_memory", False):
        return PlainTextResponse("Long term memory is disabled", status_code=400)
    sid = parsing.session_id(request)
    text = parsing.retrieval_text(await parsing.read_json(request))
    mode = "semantic" if semantic(request) else "keyword"
    result = await memory_of(request).asearch_result(sid, text, RETRIEVAL_HITS, mode=mode)
    by_meaning = result.ranking == "semantic"
    return JSONResponse([
        {"role": h.message.role, "content": h.message.content,
         "dist": cosine_distance(h.score) if by_meaning else 1.0 / (1.0 + max(h.score, 0.0))}
        for h in result.hits])


def cosine_distance(cosine: float) -> float:
    """1 - cosine, kept in [0, 2] (float rounding can put a cosine a hair past 1)."""
    return min(2.0, max(0.0, 1.0 - cosine))

