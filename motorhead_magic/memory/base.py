"""The Memory protocol every backend answers, the base class they share, and the one
validation of everything a caller passes in.

The base knows no backend (LangGraph's checkpointer shape): ``LocalMemory`` and
``RemoteMemory`` import it, it imports neither, and ``connect()`` (in this
package's ``__init__``) sits on top. Every check of ``add()``'s arguments lives
here, so SQLite, Redis and a remote server refuse the same input with the same
:class:`~motorhead_magic.errors.InvalidInput`, and nothing is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import InvalidInput
from ..records import (
    LANGCHAIN_ROLES,
    FoldProgress,
    Hit,
    MemoryView,
    Message,
    NewMessage,
    SearchResult,
    SessionInfo,
    Summary,
)
from ..stores.base import fork_refused
from .tokens import count_tokens

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("motorhead_magic")

Listener = Callable[[str, str], None]  # (event: "write" | "fold" | "delete", session_id)

MAX_METADATA_DEPTH = 32
INT64_MAX = 2**63 - 1
WAIT_THREADS = 16  # waits block a thread for long: they get threads of their own


# -- validation (one copy for every backend) ---------------------------------------------


def check_session_id(session_id: Any) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise InvalidInput(f"session id must be a non-empty string, got {session_id!r}")
    check_text("session id", session_id)
    return session_id


def check_text(what: str, text: str) -> str:
    """Text must be storable as UTF-8: a lone surrogate (``"\\udc00"``) would be
    accepted by one store and break every later read of the session in another."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid text (it holds a lone surrogate)") from None
    return text


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    """Strict JSON: string keys, finite numbers, bounded depth (a cycle or a 5,000-deep
    nesting must be refused, not crash the encoder or a later reader)."""
    if depth > MAX_METADATA_DEPTH:
        raise InvalidInput(f"{where} is nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where} has a non-string key {key!r}")
            check_text(where, key)
            _check_json(item, where, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_json(item, where, depth + 1)
    elif isinstance(value, str):
        check_text(where, value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"{where} holds {value!r}, which JSON cannot carry")
    elif value is not None and not isinstance(value, (bool, int)):
        raise InvalidInput(f"{where} is not JSON: a {type(value).__name__} in it")


def check_metadata(metadata: Any, where: str = "metadata") -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where} must be a dict, got {type(metadata).__name__}")
    _check_json(metadata, where)
    return metadata


def _role_and_content(index: int, message: Any) -> tuple[Any, Any, Any]:
    if isinstance(message, dict):
        for key in ("role", "content"):
            if key not in message:
                raise InvalidInput(f"message {index}: missing {key!r}")
        return message["role"], message["content"], message.get("metadata") or {}
    kind = getattr(message, "type", None)
    if isinstance(kind, str) and hasattr(message, "content"):  # a LangChain message
        role = getattr(message, "role", None) if kind == "chat" else LANGCHAIN_ROLES.get(kind)
        return role or kind, message.content, {}
    raise InvalidInput(
        f"message {index}: expected a dict with 'role' and 'content' or a LangChain message,"
        f" got {type(message).__name__}"
    )


def normalize_messages(messages: Any) -> list[NewMessage]:
    """Validate every message before anything is written, so a bad batch writes nothing."""
    if isinstance(messages, (str, bytes, dict)) or not isinstance(messages, Sequence):
        raise InvalidInput(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    result = []
    for index, message in enumerate(messages):
        role, content, metadata = _role_and_content(index, message)
        if not isinstance(role, str) or not role:
            raise InvalidInput(f"message {index}: 'role' must be a non-empty string")
        if not isinstance(content, str):
            raise InvalidInput(
                f"message {index}: 'content' must be a string, got {type(content).__name__}"
            )
        check_text(f"message {index}: 'role'", role)
        check_text(f"message {index}: 'content'", content)
        check_metadata(metadata, f"message {index}: metadata")
        result.append(NewMessage(role, content, count_tokens(content), metadata))
    return result


def check_add(session_id: Any, messages: Any, context: Any,
              namespace: Any) -> tuple[str, list[NewMessage], str | None, str | None]:
    """Every argument of ``add()``, checked together; returns them normalized (an empty
    namespace means none, as an absent query parameter does upstream)."""
    session_id = check_session_id(session_id)
    items = normalize_messages(messages)
    if context is not None:
        if not isinstance(context, str):
            raise InvalidInput(f"context must be a string or None, got {type(context).__name__}")
        check_text("context", context)
    return session_id, items, context, check_namespace(namespace)


def check_namespace(namespace: Any) -> str | None:
    """A namespace is a string; an empty one means none, as an absent query parameter
    does upstream (for writes and for listings alike)."""
    if namespace is None:
        return None
    if not isinstance(namespace, str):
        raise InvalidInput(f"namespace must be a string, got {type(namespace).__name__}")
    return check_text("namespace", namespace) or None


def check_fork(session_id: Any, new_id: Any, at: Any) -> tuple[str, str, int | None]:
    """``fork()``'s arguments (the store checks the ids exist / are free, atomically)."""
    session_id, new_id = check_session_id(session_id), check_session_id(new_id)
    if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
        raise InvalidInput(f"at must be a message seq (an integer >= 0) or None, got {at!r}")
    if at is not None and at > INT64_MAX:  # past any seq a store can hold
        raise fork_refused("beyond", session_id, new_id, at)
    return session_id, new_id, at


def check_history_range(start: Any, limit: Any) -> tuple[int, int | None]:
    """``history(start, limit)``: integers, not negative (bools and floats refused)."""
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise InvalidInput(f"start must be an integer >= 0, got {start!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidInput(f"limit must be an integer >= 0 or None, got {limit!r}")
    return start, limit


def check_session_ids(ids: Any) -> list[str] | None:
    """``session_infos(ids)``: None (all) or a list of ids; a bare string is refused, not
    read as a list of one-character ids."""
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, set, frozenset)):
        raise InvalidInput(f"ids must be a list of session ids, got {type(ids).__name__}")
    return [check_session_id(i) for i in ids]


def check_timeout(timeout: Any) -> float:
    """A wait's timeout: a finite number of seconds >= 0 (``inf`` would never return)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            0 <= timeout < float("inf")):
        raise InvalidInput(f"timeout must be a finite number of seconds >= 0, got {timeout!r}")
    return float(timeout)


SEARCH_MODES = ("keyword", "semantic", "hybrid")
MAX_HITS = 1000


def check_search(session_id: Any, text: Any, k: Any, mode: Any, before: Any,
                 has_embedder: bool) -> tuple[str, str, int, str, int | None]:
    """``search()``'s arguments; the mode defaults to hybrid with an embedder, else to
    keyword. Any text is fine (an empty one finds nothing); ``before`` keeps hits
    with a smaller seq (recall: only what the window no longer shows)."""
    session_id = check_session_id(session_id)
    if not isinstance(text, str):
        raise InvalidInput(f"search text must be a string, got {type(text).__name__}")
    check_text("search text", text)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_HITS:
        raise InvalidInput(f"k must be an integer from 1 to {MAX_HITS}, got {k!r}")
    if mode is None:
        mode = "hybrid" if has_embedder else "keyword"
    if mode not in SEARCH_MODES:
        raise InvalidInput(f"mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    if mode != "keyword" and not has_embedder:
        raise InvalidInput(f"{mode} search needs an embedder: connect(..., embeddings='local')"
                           " or a LangChain Embeddings object")
    if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
        raise InvalidInput(f"before must be a message seq (an integer) or None, got {before!r}")
    return session_id, text, k, mode, before


def check_as_of(as_of: Any, before: int | None) -> int | datetime | None:
    """``search(as_of=...)``: a message seq (only messages up to it) or a datetime (only
    messages written at or before it; a naive one is UTC), for replaying what memory held
    at a turn. Returned as a seq bound (``before``) when it is a seq."""
    if as_of is None:
        return before
    if before is not None:
        raise InvalidInput("give before or as_of, not both")
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    if isinstance(as_of, bool) or not isinstance(as_of, int) or as_of < 0:
        raise InvalidInput(f"as_of must be a message seq (an integer >= 0) or a datetime, "
                           f"got {as_of!r}")
    return min(as_of, INT64_MAX - 1) + 1


def check_window_size(window_size: Any) -> int:
    if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 1:
        raise InvalidInput(f"window_size must be a positive integer, got {window_size!r}")
    return window_size


# -- the protocol ------------------------------------------------------------------------


@runtime_checkable
class Memory(Protocol):
    """What every backend offers (DESIGN.md section 4), with async twins for servers."""

    url: str  # printable: never holds a password
    window_size: int
    fast_reads: bool  # reads are local and sub-millisecond: async callers may run them inline
    tokenizer: str  # which tokenizer counted ``tokens``
    last_fold_error: BaseException | None  # the newest failed background fold, if any

    def add(self, session_id: str, messages: Sequence[Any], *, context: str | None = None,
            namespace: str | None = None) -> None: ...

    def get(self, session_id: str) -> MemoryView: ...

    def history(self, session_id: str, start: int = 0,
                limit: int | None = None) -> list[Message]: ...

    def summaries(self, session_id: str) -> list[Summary]: ...

    def sessions(self, namespace: str | None = None) -> list[str]: ...

    def session_infos(self, ids: Sequence[str] | None = None) -> list[SessionInfo]: ...

    def delete(self, session_id: str) -> None: ...

    def import_context(self, session_id: str, context: str, tokens_used: int = 0) -> None: ...

    def sibling(self, *, window_size: int | None = None, summarizer: Any = None) -> Memory: ...

    def fork(self, session_id: str, new_id: str, at: int | None = None) -> str: ...

    def search(self, session_id: str, text: str, k: int = 10, *, mode: str | None = None,
               before: int | None = None, as_of: int | datetime | None = None) -> list[Hit]: ...

    def search_result(self, session_id: str, text: str, k: int = 10, *,
                      mode: str | None = None, before: int | None = None,
                      as_of: int | datetime | None = None) -> SearchResult: ...

    def wait(self, session_id: str | None = None, timeout: float = 30.0) -> None: ...

    def progress(self, session_id: str | None = None) -> list[FoldProgress]: ...

    async def aadd(self, session_id: str, messages: Sequence[Any], *,
                   context: str | None = None, namespace: str | None = None) -> None: ...

    async def aget(self, session_id: str) -> MemoryView: ...

    async def ahistory(self, session_id: str, start: int = 0,
                       limit: int | None = None) -> list[Message]: ...

    async def asummaries(self, session_id: str) -> list[Summary]: ...

    async def asessions(self, namespace: str | None = None) -> list[str]: ...

    async def asession_infos(self, ids: Sequence[str] | None = None) -> list[SessionInfo]: ...

    async def adelete(self, session_id: str) -> None: ...

    async def afork(self, session_id: str, new_id: str, at: int | None = None) -> str: ...

    async def asearch(self, session_id: str, text: str, k: int = 10, *,
                      mode: str | None = None, before: int | None = None,
                      as_of: int | datetime | None = None) -> list[Hit]: ...

    async def asearch_result(self, session_id: str, text: str, k: int = 10, *,
                             mode: str | None = None, before: int | None = None,
                             as_of: int | datetime | None = None) -> SearchResult: ...

    async def await_idle(self, session_id: str | None = None, timeout: float = 30.0) -> None: ...

    def to_dataframe(self, session_id: str | None = None) -> pd.DataFrame: ...

    def summaries_dataframe(self, session_id: str | None = None) -> pd.DataFrame: ...

    def sessions_dataframe(self) -> pd.DataFrame: ...

    def usage_dataframe(self, session_id: str | None = None) -> pd.DataFrame: ...

    def chat_history(self, session_id: str) -> Any: ...

    def subscribe(self, listener: Callable[[str, str], None]) -> Callable[[], None]: ...

    def close(self) -> None: ...


class MemoryBase:
    """What every backend shares: listeners, the async twins, the DataFrame views,
    ``with`` support.

    Subclasses implement the protocol's blocking data methods. The async twins are
    derived here, in one place: blocking calls run on a worker thread (so an event
    loop keeps serving), reads run inline when the backend says they are local and
    sub-millisecond (a thread hop would cost more than the read), and waits get a
    limiter of their own so they never starve ordinary requests.
    """

    fast_reads = False
    last_fold_error: BaseException | None = None

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self._wait_limiter: Any = None

    def progress(self, session_id: str | None = None) -> list[FoldProgress]:
        """Background summarization this object runs or will retry (none by default: a
        remote server's folds are its own)."""
        return []

    def import_context(self, session_id: str, context: str, tokens_used: int = 0) -> None:
        """Make ``context`` the current summary (an import from another system). Backends
        that can record the tokens it cost override this; the Motörhead API cannot."""
        self.add(session_id, [], context=context)  # type: ignore[attr-defined]

    # -- async twins ---------------------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., Any], *args: Any, limiter: Any = None) -> Any:
        from anyio import to_thread

        return await to_thread.run_sync(fn, *args, limiter=limiter)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args) if self.fast_reads else await self._in_thread(fn, *args)

    async def aadd(self, session_id: str, messages: Sequence[Any], *,
                   context: str | None = None, namespace: str | None = None) -> None:
        def add() -> None:
            self.add(session_id, messages, context=context,  # type: ignore[attr-defined]
                     namespace=namespace)

        await self._in_thread(add)

    async def aget(self, session_id: str) -> MemoryView:
        return await self._read(self.get, session_id)  # type: ignore[attr-defined]

    async def ahistory(self, session_id: str, start: int = 0,
                       limit: int | None = None) -> list[Message]:
        return await self._in_thread(self.history, session_id, start,  # type: ignore[attr-defined]
                                     limit)

    async def asummaries(self, session_id: str) -> list[Summary]:
        return await self._read(self.summaries, session_id)  # type: ignore[attr-defined]

    async def asessions(self, namespace: str | None = None) -> list[str]:
        return await self._in_thread(self.sessions, namespace)  # type: ignore[attr-defined]

    async def asession_infos(self, ids: Sequence[str] | None = None) -> list[SessionInfo]:
        return await self._in_thread(self.session_infos, ids)  # type: ignore[attr-defined]

    async def adelete(self, session_id: str) -> None:
        await self._in_thread(self.delete, session_id)  # type: ignore[attr-defined]

    async def afork(self, session_id: str, new_id: str, at: int | None = None) -> str:
        return await self._in_thread(self.fork, session_id, new_id, at)  # type: ignore[attr-defined]

    def first_after(self, session_id: str, when: datetime) -> int:
        """The first seq written after ``when`` (the log's length when none was), for
        ``search(as_of=datetime)``: seqs grow with time, so a galloping then binary search
        over one-message reads (a few dozen at most), on any backend."""
        def after(seq: int) -> bool:  # missing (past the end) counts as after
            found = self.history(session_id, seq, 1)  # type: ignore[attr-defined]
            return not found or found[0].created_at > when

        if after(0):
            return 0
        low, high = 0, 1  # after(low) is false, after(high) will be true
        while not after(high):
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if after(middle) else (middle, high)
        return high

    def search(self, session_id: str, text: str, k: int = 10, *, mode: str | None = None,
               before: int | None = None, as_of: int | datetime | None = None) -> list[Hit]:
        """The hits of :meth:`search_result` (the session's messages most relevant to
        ``text``, best first); ``as_of`` (a seq or a datetime) searches only what memory
        held then."""
        return self.search_result(session_id, text, k, mode=mode,  # type: ignore[attr-defined]
                                  before=before, as_of=as_of).hits

    async def asearch_result(self, session_id: str, text: str, k: int = 10, *,
                             mode: str | None = None, before: int | None = None,
                             as_of: int | datetime | None = None) -> SearchResult:
        def search() -> SearchResult:
            return self.search_result(session_id, text, k,  # type: ignore[attr-defined]
                                      mode=mode, before=before, as_of=as_of)

        return await self._in_thread(search)

    async def asearch(self, session_id: str, text: str, k: int = 10, *,
                      mode: str | None = None, before: int | None = None,
                      as_of: int | datetime | None = None) -> list[Hit]:
        return (await self.asearch_result(session_id, text, k, mode=mode, before=before,
                                          as_of=as_of)).hits

    def search_dataframe(self, session_id: str, text: str, k: int = 10, *,
                         mode: str | None = None) -> pd.DataFrame:
        """Search hits as a DataFrame (DESIGN.md section 6 schema)."""
        from .frames import hits_frame

        return hits_frame(self.search(session_id, text, k, mode=mode))  # type: ignore[attr-defined]

    async def await_idle(self, session_id: str | None = None, timeout: float = 30.0) -> None:
        """``wait`` for async callers, on threads of its own."""
        if self._wait_limiter is None:
            from anyio import CapacityLimiter

            self._wait_limiter = CapacityLimiter(WAIT_THREADS)
        await self._in_thread(self.wait, session_id, timeout,  # type: ignore[attr-defined]
                              limiter=self._wait_limiter)

    # -- DataFrame views -----------------------------------------------------------------

    def _export_columns(self, session_id: str | None) -> dict[str, list[Any]]:
        from ..stores.base import columns_from_messages

        ids = [session_id] if session_id is not None else sorted(self.sessions())  # type: ignore[attr-defined]
        return columns_from_messages(m for sid in ids for m in self.history(sid))  # type: ignore[attr-defined]

    def to_dataframe(self, session_id: str | None = None) -> pd.DataFrame:
        """Messages of one session, or of all (DESIGN.md section 6 schema)."""
        from .frames import messages_frame

        if session_id is not None:
            check_session_id(session_id)
        return messages_frame(self._export_columns(session_id))

    def summaries_dataframe(self, session_id: str | None = None) -> pd.DataFrame:
        from .frames import summaries_frame

        ids = [session_id] if session_id is not None else self.sessions()  # type: ignore[attr-defined]
        return summaries_frame([s for sid in ids for s in self.summaries(sid)])  # type: ignore[attr-defined]

    def sessions_dataframe(self) -> pd.DataFrame:
        from .frames import sessions_frame

        return sessions_frame(self.session_infos())  # type: ignore[attr-defined]

    def chat_history(self, session_id: str) -> Any:
        """A LangChain ``BaseChatMessageHistory`` of this session (summary + window), for
        ``RunnableWithMessageHistory``; writes go through :meth:`add`."""
        from .history import MemoryChatHistory

        return MemoryChatHistory(self, check_session_id(session_id))

    def usage_dataframe(self, session_id: str | None = None) -> pd.DataFrame:
        """The usage ledger (DESIGN.md section 6): one row per LLM call, chat turns and
        summaries, of one session or of all."""
        from .frames import usage_frame
        from .usage import chat_usage_rows, summary_usage_rows

        ids = [check_session_id(session_id)] if session_id is not None else self.sessions()  # type: ignore[attr-defined]
        rows: list[dict[str, Any]] = []
        for sid in ids:
            rows += chat_usage_rows(self.history(sid))  # type: ignore[attr-defined]
            rows += summary_usage_rows(self.summaries(sid))  # type: ignore[attr-defined]
        return usage_frame(rows)

    # -- listeners -----------------------------------------------------------------------

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
                log.exception("motorhead listener failed")

    def __enter__(self) -> MemoryBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]
