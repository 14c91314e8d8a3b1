"""Optional API key: without one, ``x-metal-*`` headers are accepted and ignored.

With a key (``--api-key`` or env ``MOTORHEAD_API_KEY``) every request must send
it as ``x-metal-api-key: KEY`` (what clients of the old managed service send)
or ``Authorization: Bearer KEY``. Keys are compared in constant time and
never logged.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key a request presents, from ``x-metal-api-key`` or a Bearer token."""
    for name, value in headers:
        if name == b"x-metal-api-key":
            return value.strip()
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
    return None


class ApiKeyMiddleware:
    """Refuses (401) every HTTP request that lacks the configured key."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            key = presented_key(scope["headers"])
            if key is None or not hmac.compare_digest(key, self._key):
                response = JSONResponse(
                    {"error": "missing or wrong API key: send x-metal-api-key or"
                              " Authorization: Bearer"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
