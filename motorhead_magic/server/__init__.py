"""The Motörhead-compatible HTTP server: ``motorhead-magic serve``.

``create_app(memory)`` is the ASGI app (any Memory: SQLite, Redis);
``run(memory, host, port)`` serves it with uvicorn until SIGTERM/SIGINT, lets
requests in flight finish (waits for background work end at once, with a 503), then
closes the memory.
"""

from __future__ import annotations

import gc
from typing import Any

from ..memory import Memory
from .app import create_app

__all__ = ["create_app", "run"]


def run(memory: Memory, host: str = "127.0.0.1", port: int = 8080, *,
        api_key: str | None = None, log_level: str = "info", access_log: bool = False,
        graceful_seconds: float = 30.0, threads: int | None = None,
        body_timeout: float | None = 30.0, long_term_memory: bool = False) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn's graceful shutdown), then close ``memory``.

    Requests in flight get ``graceful_seconds`` to finish; those still running then are
    answered 503. A request body must arrive within ``body_timeout`` seconds (else 408).
    ``long_term_memory`` turns on upstream's retrieval route (see :func:`create_app`).
    """
    import uvicorn

    app = create_app(memory, api_key=api_key, threads=threads, body_timeout=body_timeout,
                     long_term_memory=long_term_memory)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            app.state.shutdown.begin()  # waits for background work end now
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level,
        access_log=access_log, lifespan="on", timeout_graceful_shutdown=graceful_seconds,
        server_header=False,
    )
    # What is loaded by now lives as long as the server: out of the cyclic collector's
    # sight, a full collection walks only what requests made (fewer long pauses).
    gc.collect()
    gc.freeze()
    Server(config).run()
