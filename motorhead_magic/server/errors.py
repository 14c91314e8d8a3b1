"""Every error leaves the server as valid JSON ``{"error": "..."}`` with a fitting status.

Upstream Motörhead wrote some error bodies unescaped (invalid JSON) and
answered store failures with a bare 500; clients here always get a parseable
body. The status of the package's own errors comes from one table,
``MotorheadError.http_status`` (400 bad input, 401 not authorized, 404 missing,
503 store down, 504 a ``wait`` timed out); besides those: 401 without the API key
(the middleware), 404/405 for unknown routes and methods, 408 for a body that does not
arrive in time, 413 for oversized bodies, and 500 only for a bug. Bugs and
cancellations are answered by :mod:`.guard` (one log entry each, the connection kept).

A 503 tells the client what failed and its kind (:func:`store_reason`: ``store
unavailable: timed out``), never the detail: that names hosts, ports, file paths and
whatever the store's driver said, and goes to the server log, its URLs redacted.
"""

from __future__ import annotations

import logging
import re
import traceback

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import MotorheadError, StoreUnavailable
from ..settings import redact

log = logging.getLogger("motorhead_magic.server")

SHUTTING_DOWN = "server shutting down"

# Any URL in a text (a store's message, a traceback), for redaction.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")

# The kind of a store failure, from the exception types in its chain ...
_REASON_TYPES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (TimeoutError, "timed out"),  # also socket.timeout
    (ConnectionResetError, "connection lost"),
    (ConnectionAbortedError, "connection lost"),
    (BrokenPipeError, "connection lost"),
)
# ... else from its words (lower case; URLs taken out first, so that a redacted
# ``?password=***`` is not read as an authentication failure). First match wins.
_REASON_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    ((SHUTTING_DOWN,), SHUTTING_DOWN),
    (("read-only", "readonly", "read only"), "read-only"),
    (("timed out", "timeout", "gave up after"), "timed out"),
    (("connection refused", "error 111", "errno 111", "connect call failed"),
     "connection refused"),
    (("wrongpass", "noauth", "noperm", "invalid password", "username-password",
      "authentication"), "not authorized"),
    (("name or service not known", "name resolution", "nodename nor servname",
      "no address associated"), "host not found"),
    (("connection closed", "connection reset", "connection lost", "broken pipe",
      "connection aborted"), "connection lost"),
    (("disk is full", "disk full", "no space left"), "disk full"),
    (("damaged", "malformed", "not a database", "corrupt"), "damaged"),
    (("database is locked", "locked"), "locked"),
    (("out of memory", "oom "), "out of memory"),
    (("not a motorhead-magic store",), "not a motorhead-magic store"),
    (("unable to open", "cannot open"), "cannot open"),
    (("is closed",), "closed"),
)


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (:func:`motorhead_magic.settings.redact`)."""
    return _URL.sub(lambda match: redact(match.group(0)), text)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def store_reason(exc: BaseException) -> str:
    """The kind of a store failure in a few words (``"timed out"``, ``"connection
    refused"``, ``"read-only"``, ...), or ``""`` when it is none we know. A store that
    knows better may say so in a ``reason`` attribute."""
    given = getattr(exc, "reason", None)
    if isinstance(given, str) and given:
        return given
    chain = _chain(exc)
    for error in chain:
        for kind, reason in _REASON_TYPES:
            if isinstance(error, kind):
                return reason
    words = " ".join(_URL.sub(" ", str(error)) for error in chain).lower()
    for needles, reason in _REASON_WORDS:
        if any(needle in words for needle in needles):
            return reason
    return ""


def store_unavailable_message(exc: BaseException) -> str:
    """What a client is told about a store failure: ``store unavailable[: reason]``."""
    reason = store_reason(exc)
    return f"store unavailable: {reason}" if reason else "store unavailable"


def log_error(what: str, method: str, path: str, exc: BaseException) -> None:
    """One log entry for a failure: the request and one traceback, its URLs redacted."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("%s on %s %s\n%s", what, method, path, redact_text(trace).rstrip())


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
    """Any of the package's errors: the status it knows (``http_status``), its message;
    for a store failure only its kind (the detail goes to the log)."""
    assert isinstance(exc, MotorheadError)
    status = exc.http_status
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path,
                    redact_text(str(exc) or type(exc).__name__))
        return error_response(status, store_unavailable_message(exc))
    message = str(exc) or type(exc).__name__
    if status >= 500:
        message = redact_text(message)
        if status != 504:
            log_error(type(exc).__name__, request.method, request.url.path, exc)
    return error_response(status, message)


async def timed_out(request: Request, exc: Exception) -> Response:
    return error_response(504, str(exc) or "timed out")


EXCEPTION_HANDLERS = {
    ApiError: api_error,
    HTTPException: http_error,
    MotorheadError: motorhead_error,
    TimeoutError: timed_out,  # a timeout that is not ours (WaitTimedOut is a MotorheadError)
}
