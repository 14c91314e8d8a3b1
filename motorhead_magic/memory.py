"""``connect(url)``: one entry point for every backend, and the protocol they share.

The embedded SQLite store, Redis and a remote Motörhead server all answer the
same :class:`Memory` protocol, so the magics, the panel, the server and the
JupyterLab extension never care which one is behind it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from .model import InvalidInput, MemoryView, Message, SessionInfo, Summary

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_WINDOW_SIZE = 12

Listener = Callable[[str, str], None]  # (event: "write" | "fold" | "delete", session_id)


@runtime_checkable
class Memory(Protocol):
    """What every backend offers (DESIGN.md section 4)."""

    url: str
    window_size: int
    fast_reads: bool  # reads are local and sub-millisecond: async callers may run them inline

    def add(self, session_id: str, messages: Sequence[Any], *, context: str | None = None,
            namespace: str | None = None) -> None: ...

    def get(self, session_id: str) -> MemoryView: ...

    async def aget(self, session_id: str) -> MemoryView: ...

    def history(self, session_id: str, start: int = 0,
                limit: int | None = None) -> list[Message]: ...

    def summaries(self, session_id: str) -> list[Summary]: ...

    def sessions(self, namespace: str | None = None) -> list[str]: ...

    def session_infos(self, ids: Sequence[str] | None = None) -> list[SessionInfo]: ...

    def delete(self, session_id: str) -> None: ...

    def wait(self, session_id: str | None = None, timeout: float = 30.0) -> None: ...

    def to_dataframe(self, session_id: str | None = None) -> pd.DataFrame: ...

    def summaries_dataframe(self, session_id: str | None = None) -> pd.DataFrame: ...

    def sessions_dataframe(self) -> pd.DataFrame: ...

    def subscribe(self, listener: Callable[[str, str], None]) -> Callable[[], None]: ...

    def close(self) -> None: ...


class MemoryBase:
    """What every backend shares: listeners, the DataFrame views, ``with`` support.

    Subclasses implement the protocol's data methods; a backend with a faster bulk
    read overrides :meth:`_export_columns`.
    """

    fast_reads = False

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()

    async def aget(self, session_id: str) -> MemoryView:
        """``get`` for async callers (the server): inline when reads are local and
        sub-millisecond (a thread hop would cost more than the read), else on a
        worker thread so the event loop keeps serving."""
        if self.fast_reads:
            return self.get(session_id)  # type: ignore[attr-defined]
        from anyio import to_thread

        return await to_thread.run_sync(self.get, session_id)  # type: ignore[attr-defined]

    def _export_columns(self, session_id: str | None) -> dict[str, list[Any]]:
        from .stores.base import columns_from_messages

        ids = [session_id] if session_id is not None else sorted(self.sessions())
        return columns_from_messages(m for sid in ids for m in self.history(sid))

    def to_dataframe(self, session_id: str | None = None) -> pd.DataFrame:
        """Messages of one session, or of all (DESIGN.md section 6 schema)."""
        from .engine import check_session_id
        from .frames import messages_frame

        if session_id is not None:
            check_session_id(session_id)
        return messages_frame(self._export_columns(session_id))

    def summaries_dataframe(self, session_id: str | None = None) -> pd.DataFrame:
        from .frames import summaries_frame

        ids = [session_id] if session_id is not None else self.sessions()
        return summaries_frame([s for sid in ids for s in self.summaries(sid)])

    def sessions_dataframe(self) -> pd.DataFrame:
        from .frames import sessions_frame

        return sessions_frame(self.session_infos())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event, session_id)`` after writes, folds and deletes made through
        this object (from whichever thread made them); returns the unsubscribe function."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, event: str, session_id: str) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, session_id)
            except Exception:  # a broken display must never break the memory
                logging.getLogger("motorhead_magic").exception("motorhead listener failed")

    def __enter__(self) -> MemoryBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


def default_store_path() -> Path:
    """The embedded store shared by every kernel and server of this user."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "motorhead_magic" / "memory.db"


def default_url() -> str:
    return os.environ.get("MOTORHEAD_URL") or f"sqlite://{default_store_path().as_posix()}"


def default_window_size() -> int:
    raw = os.environ.get("MOTORHEAD_MAX_WINDOW_SIZE")
    if not raw:
        return DEFAULT_WINDOW_SIZE
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"MOTORHEAD_MAX_WINDOW_SIZE must be an integer, got {raw!r}") from None


def redact(url: str) -> str:
    """The URL without its password, for display."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


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
    window_size = default_window_size() if window_size is None else window_size
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from .engine import StoreMemory
        from .stores.sqlite import SQLiteStore

        path = urlsplit(url).path
        if not path or path == "/":
            raise InvalidInput(f"SQLite URL needs a path: sqlite:///abs/path.db, got {url!r}")
        store = SQLiteStore("/" + path.lstrip("/"))
        return StoreMemory(store, window_size=window_size, summarizer=summarizer, **options)
    if scheme in ("redis", "rediss", "unix"):
        from .engine import StoreMemory
        from .stores.redis import RedisStore

        store = RedisStore(url, prefix=options.pop("prefix", "mhm"))
        return StoreMemory(store, window_size=window_size, summarizer=summarizer, **options)
    if scheme in ("http", "https"):
        from .remote import RemoteMemory

        return RemoteMemory(url, window_size=window_size, summarizer=summarizer, **options)
    raise InvalidInput(
        f"unknown URL scheme {scheme or '(none)'!r} in {redact(url)!r}:"
        " use sqlite:///path.db, redis://host:port/db or http(s)://host:port"
    )
