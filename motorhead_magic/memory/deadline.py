"""One call with a deadline, for the background work that calls a model (summaries,
embeddings): a hung call must not hold a fold, a search, a close or a shutdown forever.

The call runs on a daemon thread, so an abandoned one never keeps the process alive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def call_with_deadline(fn: Callable[[], Any], timeout: float, thread_name: str,
                       error: Callable[[str], Exception]) -> Any:
    """``fn()``'s result, or ``error(why)`` raised when it outlives ``timeout`` seconds
    (``why`` = "did not answer within ... s") or raises ("failed: ..."; chained)."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            failure.append(exc)

    worker = threading.Thread(target=run, name=thread_name, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise error(f"did not answer within {timeout:g} s")
    if failure:
        raise error(f"failed: {failure[0] or type(failure[0]).__name__}") from failure[0]
    return result[0]
