"""Every error leaves the server as valid JSON ``{"error": "..."}`` with a fitting status.

Upstream Motörhead wrote some error bodies unescaped (invalid JSON) and
answered store failures with a bare 500; clients here always get a parseable
body: 400 for bad input, 401 without the API key, 404/405 for unknown
routes, 413 for oversized bodies, 503 when the store is down, 504 when a
``wait`` times out, and 500 only for a bug (logged with its traceback).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import InvalidInput, StoreUnavailable

log = logging.getLogger("motorhead_magic.server")


class ApiError(Exception):
    """Raised by route helpers; becomes ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, dict(exc.headers or {}))


async def invalid_input(request: Request, exc: Exception) -> Response:
    return error_response(400, str(exc))


async def store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("store unavailable: %s", exc)
    return error_response(503, f"store unavailable: {exc}")


async def timed_out(request: Request, exc: Exception) -> Response:
    return error_response(504, str(exc) or "timed out")


async def unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}")


EXCEPTION_HANDLERS = {
    ApiError: api_error,
    HTTPException: http_error,
    InvalidInput: invalid_input,
    StoreUnavailable: store_unavailable,
    TimeoutError: timed_out,
    Exception: unexpected,
}
