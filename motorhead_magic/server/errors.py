"""Every error leaves the server as valid JSON ``{"error": "..."}`` with a fitting status.

Upstream Motörhead wrote some error bodies unescaped (invalid JSON) and
answered store failures with a bare 500; clients here always get a parseable
body. The status of the package's own errors comes from one table,
``MotorheadError.http_status`` (400 bad input, 401 not authorized, 404 missing,
503 store down, 504 a ``wait`` timed out); besides those: 401 without the API key
(the middleware), 404/405 for unknown routes and methods, 413 for oversized
bodies, and 500 only for a bug (logged with its traceback).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import MotorheadError, StoreUnavailable

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


async def motorhead_error(request: Request, exc: Exception) -> Response:
    """Any of the package's errors: the status it knows (``http_status``), its message."""
    assert isinstance(exc, MotorheadError)
    status = exc.http_status
    message = str(exc) or type(exc).__name__
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable: %s", exc)
        message = f"store unavailable: {message}"
    elif status >= 500 and status not in (503, 504):
        log.error("%s on %s %s", type(exc).__name__, request.method, request.url.path,
                  exc_info=exc)
    return error_response(status, message)


async def timed_out(request: Request, exc: Exception) -> Response:
    return error_response(504, str(exc) or "timed out")


async def unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}")


EXCEPTION_HANDLERS = {
    ApiError: api_error,
    HTTPException: http_error,
    MotorheadError: motorhead_error,
    TimeoutError: timed_out,  # a timeout that is not ours (WaitTimedOut is a MotorheadError)
    Exception: unexpected,
}
