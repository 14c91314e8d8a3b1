"""The outermost layer of the app's own: what no route and no handler can answer.

- **A bug** (any exception no handler maps) becomes a 500 ``{"error": "internal error:
  KeyError"}`` here, logged once with its traceback. Starlette's own last resort
  (``ServerErrorMiddleware``) re-raises after answering, and uvicorn then logged a second
  traceback and closed the keep-alive connection without a ``Connection: close``: the
  client's next request on it failed. Here nothing is re-raised, so the connection stays
  usable (unless the request's body was not read to its end: then the answer says
  ``Connection: close``).
- **A body that does not arrive**: the whole request body must arrive within
  ``body_timeout`` seconds of the request; else 408 with ``Connection: close`` (uvicorn
  has no such limit: a client that sends headers and then nothing held its connection
  and a task forever).
- **Shutdown**: uvicorn cancels the requests still running when its graceful limit
  ends (one blocked on the SQLite write lock, say); each is answered 503 ``store
  unavailable: server shutting down`` with ``Connection: close`` instead of uvicorn's
  plain-text 500 and a ``CancelledError`` traceback.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import SHUTTING_DOWN, log, log_error


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Exchange:
    """One request's receive and send, watched: has the answer started, has the body
    been read to its end, and did it take too long."""

    __slots__ = ("_scope", "_receive", "_send", "_timeout", "deadline", "body_done",
                 "started", "expired")

    def __init__(self, scope: Scope, receive: Receive, send: Send,
                 body_timeout: float | None) -> None:
        self._scope, self._receive, self._send = scope, receive, send
        self._timeout = body_timeout
        self.body_done = not _has_body(scope)
        self.started = self.expired = False
        self.deadline = (None if self.body_done or not body_timeout
                         else asyncio.get_running_loop().time() + body_timeout)

    async def receive(self) -> Message:
        if self.deadline is None or self.body_done:
            return await self._receive()
        # A timer that cancels this task, not a cancel scope or wait_for: this runs for
        # every request with a body, and a timer costs a few microseconds (anyio's
        # move_on_after about 20, wait_for a task).
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        remaining = self.deadline - loop.time()
        if remaining <= 0:
            self._too_late()
        timer = loop.call_later(remaining, self._expire, task)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self.expired:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()  # our own cancel, consumed here
            self._too_late()
        finally:
            timer.cancel()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    def _expire(self, task: asyncio.Task[Any]) -> None:
        self.expired = True
        task.cancel()

    def _too_late(self) -> None:
        self.deadline = None  # a handler that reads on gets what is left, unbounded
        raise HTTPException(408, f"request body not received within {self._timeout:g}s",
                            headers={"Connection": "close"})

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def answer(self, status: int, error: str, close: bool) -> None:
        headers = {"Connection": "close"} if close else None
        response = JSONResponse({"error": error}, status_code=status, headers=headers)
        await response(self._scope, self._receive, self.send)


class RequestGuard:
    """ASGI middleware; the first of the app's own (inside Starlette's last resort)."""

    def __init__(self, app: ASGIApp, body_timeout: float | None = 30.0) -> None:
        self.app = app
        self.body_timeout = (body_timeout if body_timeout and math.isfinite(body_timeout)
                             else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send, self.body_timeout)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except asyncio.CancelledError:
            if exchange.started:
                raise
            # Only uvicorn's shutdown cancels a request task (at its graceful limit):
            # answer it, and end the cancelled request here.
            log.warning("%s %s still running at the shutdown's graceful limit: answered 503",
                        scope["method"], scope["path"])
            await exchange.answer(503, f"store unavailable: {SHUTTING_DOWN}", close=True)
        except Exception as exc:
            log_error("unexpected error", scope["method"], scope["path"], exc)
            if exchange.started:
                return  # the answer was cut short: uvicorn closes the connection
            await exchange.answer(500, f"internal error: {type(exc).__name__}",
                                  close=not exchange.body_done)
