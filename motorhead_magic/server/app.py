"""The ASGI app: explicit routes over one Memory, JSON errors, optional API key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from anyio import to_thread
from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..memory import Memory
from . import extras, routes
from .auth import ApiKeyMiddleware
from .errors import EXCEPTION_HANDLERS
from .guard import RequestGuard
from .lifecycle import Shutdown
from .openapi import openapi_document


class SessionIdConvertor(PathConvertor):
    """Any text, as the memory accepts it: also ``/`` (sent as ``%2F``) and line breaks,
    which Starlette's ``path`` (``.*`` without DOTALL) would turn into a 404."""

    regex = "(?s:.*)"


register_url_convertor("session_id", SessionIdConvertor())
SESSION = "/sessions/{session_id:session_id}"


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(semantic=routes.semantic(request)))


ROUTES = [
    Route("/", routes.health, methods=["GET"]),
    Route("/sessions", routes.list_sessions, methods=["GET"]),
    Route(f"{SESSION}/memory", routes.SessionMemory),  # GET/HEAD, POST, DELETE; else 405
    Route(f"{SESSION}/retrieval", routes.retrieval, methods=["POST"]),
    Route(f"{SESSION}/window", extras.get_window, methods=["GET"]),
    Route(f"{SESSION}/messages", extras.get_messages, methods=["GET"]),
    Route(f"{SESSION}/summaries", extras.get_summaries, methods=["GET"]),
    Route(f"{SESSION}/wait", extras.wait_session, methods=["POST"]),
    Route(f"{SESSION}/fork", extras.fork, methods=["POST"]),
    Route(f"{SESSION}/search", extras.search, methods=["POST"]),
    Route("/wait", extras.wait_all, methods=["POST"]),
    Route("/session-infos", extras.session_infos, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]


def create_app(memory: Memory, *, api_key: str | None = None, close_memory: bool = True,
               threads: int | None = None, body_timeout: float | None = 30.0,
               long_term_memory: bool = False) -> Starlette:
    """Serve ``memory`` over the Motörhead API; with ``api_key`` every request needs it.

    ``long_term_memory`` turns on upstream's retrieval route, by meaning when the memory
    has an embedder (``connect(..., embeddings=)``, which also indexes new messages in
    the background), else by words; the additive search route is always on.

    Route functions await the memory's async twins; the blocking store calls among them run
    on at most ``threads`` worker threads (anyio's default, 40, when None), and waits on
    threads of the memory's own. With ``close_memory`` the memory is closed at shutdown,
    after uvicorn has let the requests in flight finish (each POST is one store
    transaction, so none is half done). A request's body must arrive within
    ``body_timeout`` seconds (None: no limit); bugs, late bodies and requests cut off by
    the shutdown are answered by :class:`~.guard.RequestGuard`.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if threads:
            to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        if close_memory:
            memory.close()

    middleware = [Middleware(RequestGuard, body_timeout=body_timeout)]
    if api_key:
        middleware.append(Middleware(ApiKeyMiddleware, api_key=api_key))
    app = Starlette(routes=ROUTES, middleware=middleware,
                    exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.memory = memory
    app.state.long_term_memory = long_term_memory
    app.state.semantic = getattr(memory, "embedder", None) is not None
    app.state.shutdown = Shutdown()
    return app
