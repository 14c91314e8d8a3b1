"""``connect(url)``: one entry point for every backend, chosen by the URL's scheme.

The embedded SQLite store, Redis and a remote Motörhead server all answer the
same :class:`Memory` protocol (``base.py``), so the magics, the panel, the server
and the JupyterLab extension never care which one is behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ..settings import REDIS_SCHEMES, default_url, default_window_size, redact
from .base import Memory, MemoryBase, check_session_id, check_window_size

__all__ = ["Memory", "MemoryBase", "check_session_id", "connect"]


def _sqlite(url: str, window_size: int, summarizer: Any, options: dict[str, Any]) -> Memory:
    from ..stores.sqlite import SQLiteStore
    from .local import LocalMemory

    parts = urlsplit(url)
    if parts.netloc:
        raise InvalidInput(f"a SQLite URL takes no host: sqlite:///abs/path.db, got "
                           f"{redact(url)!r}")
    if not parts.path or parts.path == "/":
        raise InvalidInput(f"SQLite URL needs a path: sqlite:///abs/path.db, got {redact(url)!r}")
    store = SQLiteStore("/" + parts.path.lstrip("/"))
    return LocalMemory(store, window_size=window_size, summarizer=summarizer, **options)


def _redis(url: str, window_size: int, summarizer: Any, options: dict[str, Any]) -> Memory:
    from ..stores.redis import RedisStore
    from .local import LocalMemory

    store = RedisStore(url, prefix=options.pop("prefix", "mhm"))
    return LocalMemory(store, window_size=window_size, summarizer=summarizer, **options)


def _remote(url: str, window_size: int, summarizer: Any, options: dict[str, Any]) -> Memory:
    from .remote import RemoteMemory

    return RemoteMemory(url, window_size=window_size, summarizer=summarizer, **options)


Opener = Callable[[str, int, Any, dict[str, Any]], Memory]
BACKENDS: dict[str, Opener] = {
    "sqlite": _sqlite,
    **{scheme: _redis for scheme in REDIS_SCHEMES},
    "http": _remote,
    "https": _remote,
}


def connect(
    url: str | None = None,
    *,
    window_size: int | None = None,
    summarizer: Any = None,
    **options: Any,
) -> Memory:
    """Open a memory: ``None`` (the embedded default, or env ``MOTORHEAD_URL``),
    ``sqlite:///abs/path.db``, ``redis://host:port/db`` or ``http(s)://host:port``.

    ``summarizer`` is a LangChain chat model (or a :class:`~.summarizer.Summarizer`)
    used for folds; without one nothing is summarized. Extra ``options`` go to the
    backend (e.g. ``lease_seconds``, ``timeout``, ``api_key``).
    """
    url = url or default_url()
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a string, got {type(url).__name__}")
    window_size = check_window_size(default_window_size() if window_size is None
                                    else window_size)
    scheme = urlsplit(url).scheme.lower()
    opener = BACKENDS.get(scheme)
    if opener is None:
        raise InvalidInput(
            f"unknown URL scheme {scheme or '(none)'!r} in {redact(url)!r}:"
            " use sqlite:///path.db, redis://host:port/db or http(s)://host:port"
        )
    return opener(url, window_size, summarizer, dict(options))
