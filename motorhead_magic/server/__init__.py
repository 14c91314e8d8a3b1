"""The Motörhead-compatible HTTP server: ``motorhead-magic serve``.

``create_app(memory)`` is the ASGI app (any Memory: SQLite, Redis);
``run(memory, host, port)`` serves it with uvicorn until SIGTERM/SIGINT, lets
requests in flight finish, then closes the memory.
"""

from __future__ import annotations

from ..memory import Memory
from .app import create_app

__all__ = ["create_app", "run"]


def run(memory: Memory, host: str = "127.0.0.1", port: int = 8080, *,
        api_key: str | None = None, log_level: str = "info", access_log: bool = False,
        graceful_seconds: float = 30.0, threads: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn's graceful shutdown), then close ``memory``."""
    import uvicorn

    config = uvicorn.Config(
        create_app(memory, api_key=api_key, threads=threads), host=host, port=port,
        log_level=log_level,
        access_log=access_log, lifespan="on", timeout_graceful_shutdown=graceful_seconds,
        server_header=False,
    )
    uvicorn.Server(config).run()
