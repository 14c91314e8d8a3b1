"""The server's shutdown as the routes see it.

``run`` marks the start of uvicorn's graceful shutdown (SIGTERM, SIGINT) on the app's
:class:`Shutdown`; from then on a ``wait`` for background summarization answers 503
``store unavailable: server shutting down`` at once instead of holding the shutdown
for up to its graceful limit: this process will not finish that work (a fold in
flight is abandoned to its lease, and another process takes it over). Requests that
read or write the store are let finish, each within the store's own deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ..errors import StoreUnavailable
from .errors import SHUTTING_DOWN

T = TypeVar("T")


class Shutdown:
    """Set once, when the server begins to shut down (an app served otherwise than by
    ``run`` is never told, and its waits run to their timeout)."""

    def __init__(self) -> None:
        self.begun = False
        self._event: asyncio.Event | None = None

    def begin(self) -> None:
        """Called on the event loop (by ``run``'s server, as its shutdown starts)."""
        self.begun = True
        if self._event is not None:
            self._event.set()

    def _wait(self) -> Awaitable[bool]:
        if self._event is None:
            self._event = asyncio.Event()
            if self.begun:
                self._event.set()
        return self._event.wait()

    async def unless_begun(self, work: Awaitable[T]) -> T:
        """``await work``, unless the shutdown begins first: then ``work`` is cancelled
        and :class:`StoreUnavailable` ("server shutting down") raised."""
        if self.begun:
            raise StoreUnavailable(SHUTTING_DOWN)
        running = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._wait())
        try:
            await asyncio.wait((running, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not running.done():
                running.cancel()
        if not running.done() or running.cancelled():
            raise StoreUnavailable(SHUTTING_DOWN)
        return running.result()
