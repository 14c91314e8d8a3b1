"""``connect("http://host:port")``: the Memory protocol over any Motörhead server.

Writes, the window, deletes and the session list use the upstream API, so they
work against upstream Motörhead too. History, summaries, session counts, forks,
search and ``wait`` use motorhead-magic's additive routes; against a server without
them, those raise :class:`EndpointMissing` and ``wait`` does nothing. The server
embeds (its ``--long-term-memory --embeddings``): an embedder cannot be passed here.
Input is validated here with the engine's own checks, so bad input raises the
same :class:`~motorhead_magic.errors.InvalidInput` as a local store and nothing is sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ..errors import (
    EndpointMissing,
    InvalidInput,
    MotorheadError,
    StoreUnavailable,
    error_from_status,
)
from ..records import (
    MAX_BODY_BYTES,
    MAX_PAGE,
    MemoryView,
    Message,
    SearchResult,
    SessionInfo,
    Summary,
)
from ..settings import redact
from .base import (
    MemoryBase,
    check_add,
    check_as_of,
    check_fork,
    check_history_range,
    check_namespace,
    check_search,
    check_session_id,
    check_session_ids,
    check_timeout,
)
from .tokens import count_tokens, tokenizer_name

HISTORY_PAGE = 500
MAX_URL_PATH = 8_000  # what HTTP servers commonly accept in a request line
IDEMPOTENT = ("GET", "HEAD", "DELETE")
SESSIONS_PAGE = 10_000
EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return response.text.strip()[:500]


class RemoteMemory(MemoryBase):
    """A Motörhead server as a Memory. The server summarizes: ``summarizer`` is kept
    only as an attribute, and ``window_size`` is the server's once it has told us."""

    def __init__(
        self,
        url: str,
        *,
        window_size: int = 12,
        summarizer: Any = None,
        timeout: float = 10.0,
        api_key: str | None = None,
        client_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        embeddings: Any = None,
        embed_timeout: float | None = None,
    ) -> None:
        super().__init__()
        if not (embeddings is None or (isinstance(embeddings, str)
                                       and embeddings.strip().lower() == "none")):
            raise InvalidInput("the server embeds: start it with --long-term-memory"
                               " --embeddings local (or openai:MODEL), and connect without"
                               " embeddings=")
        if embed_timeout is not None:
            raise InvalidInput("the server embeds, with its own timeout: connect without"
                               " embed_timeout=")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = redact(url.rstrip("/"))  # printable; the client has the real one
        self._secret = urlsplit(url).password
        self.window_size = window_size
        self.summarizer = summarizer
        self.tokenizer = tokenizer_name()
        self.last_fold_error: BaseException | None = None
        self.timeout = float(timeout)
        headers = {"user-agent": "motorhead-magic"}
        if api_key:
            headers["x-metal-api-key"] = api_key
        if client_id:
            headers["x-metal-client-id"] = client_id
        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=self.timeout, headers=headers,
                                    transport=transport)
        self._missing: set[str] = set()  # additive routes this server lacks
        self.search_note: str | None = None  # why the server's last search fell back

    def __repr__(self) -> str:
        return f"<RemoteMemory {self.url}>"

    def sibling(self, *, window_size: int | None = None, summarizer: Any = None
                ) -> RemoteMemory:
        """The server decides the window and summarizes: other settings cannot be had."""
        if summarizer is not None or window_size not in (None, self.window_size):
            raise InvalidInput("a Motörhead server's window size and summarizer are its own;"
                               " replay with other settings on a local store")
        return self

    def _scrub(self, text: str) -> str:
        """An error text without the URL's password (httpx may quote the URL)."""
        return text.replace(self._secret, "***") if self._secret else text

    # -- HTTP ------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 body: bytes | None = None, timeout: float | None = None,
                 additive: bool = False, read_only: bool = False) -> Any:
        headers = {"content-type": "application/json"} if body is not None else None
        if len(path) > MAX_URL_PATH:
            raise InvalidInput(f"{method}: the session id makes a {len(path):,}-character URL;"
                               f" a Motörhead server takes at most {MAX_URL_PATH:,}")
        # A read (or a delete) is safe to send twice: once more after a dropped
        # keep-alive connection, which says nothing about the server's health.
        attempts = 2 if method in IDEMPOTENT or read_only else 1
        for attempt in range(attempts):
            try:
                response = self._client.request(
                    method, path, params=params, content=body, headers=headers,
                    timeout=self.timeout if timeout is None else timeout,
                )
                break
            except httpx.TimeoutException as exc:
                raise StoreUnavailable(
                    f"Motörhead server {self.url} did not answer {method} {path[:200]} within"
                    f" {timeout or self.timeout:g}s ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    continue
                raise StoreUnavailable(f"Motörhead server {self.url} is unreachable: "
                                       f"{self._scrub(str(exc))}") from exc
            except httpx.InvalidURL as exc:
                raise InvalidInput(f"{method}: not a valid URL: {self._scrub(str(exc))}"
                                   ) from exc
        if response.status_code < 400:
            try:
                return response.json()
            except ValueError as exc:
                raise MotorheadError(f"{method} {path}: the server answered non-JSON") from exc
        text = _error_text(response)
        status = response.status_code
        if additive and status in (404, 405):
            raise EndpointMissing(
                f"the server at {self.url} lacks {method} {path.split('?')[0]} (an"
                " upstream Motörhead server?): history, summaries, session counts, forks and"
                " search need a motorhead-magic server")
        hint = " (pass api_key=... to connect())" if status in (401, 403) else ""
        raise error_from_status(status, f"{method} {self.url}{path}: {status} {text}{hint}")

    def _session_path(self, session_id: str, route: str) -> str:
        return f"/sessions/{quote(session_id, safe='')}/{route}"

    # -- the Memory protocol ---------------------------------------------------------

    def add(self, session_id: str, messages: Sequence[Any], *, context: str | None = None,
            namespace: str | None = None) -> None:
        """One POST (one transaction on the server); validated here first."""
        session_id, items, context, namespace = check_add(session_id, messages, context,
                                                          namespace)
        if not items and context is None:
            return
        payload: dict[str, Any] = {"messages": [
            {"role": m.role, "content": m.content, **({"metadata": m.metadata}
                                                       if m.metadata else {})}
            for m in items]}
        if context is not None:
            payload["context"] = context
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        if len(body) > MAX_BODY_BYTES:
            raise InvalidInput(
                f"these messages make a {len(body):,} byte request; Motörhead servers accept"
                f" at most {MAX_BODY_BYTES:,} bytes per write: add them in smaller batches")
        params = {"namespace": namespace} if namespace else None
        self._request("POST", self._session_path(session_id, "memory"), params=params, body=body)
        self._notify("write", session_id)

    def get(self, session_id: str) -> MemoryView:
        session_id = check_session_id(session_id)
        if "window" not in self._missing:
            try:
                data = self._request("GET", self._session_path(session_id, "window"),
                                     additive=True)
            except EndpointMissing:
                self._missing.add("window")
            else:
                if isinstance(data.get("window_size"), int):
                    self.window_size = data["window_size"]
                return MemoryView.from_dict({"session_id": session_id, **data})
        # An upstream server: the window newest first, without seq or timestamps.
        data = self._request("GET", self._session_path(session_id, "memory"))
        messages = [Message(session_id, -1, m["role"], m["content"], count_tokens(m["content"]),
                            EPOCH) for m in reversed(data.get("messages") or [])]
        return MemoryView(session_id, messages, data.get("context"), data.get("tokens") or 0)

    def history(self, session_id: str, start: int = 0, limit: int | None = None) -> list[Message]:
        session_id = check_session_id(session_id)
        start, limit = check_history_range(start, limit)
        path = self._session_path(session_id, "messages")
        result: list[Message] = []
        cursor: int | None = max(0, start)
        while cursor is not None and (limit is None or len(result) < limit):
            page = HISTORY_PAGE if limit is None else min(HISTORY_PAGE, limit - len(result))
            data = self._request("GET", path, params={"cursor": cursor, "limit": page},
                                 additive=True)
            result.extend(Message.from_dict(m) for m in data["messages"])
            cursor = data.get("next_cursor")
        return result

    def summaries(self, session_id: str) -> list[Summary]:
        data = self._request("GET", self._session_path(check_session_id(session_id),
                                                       "summaries"), additive=True)
        return [Summary.from_dict(s) for s in data["summaries"]]

    def sessions(self, namespace: str | None = None) -> list[str]:
        """Every id, by ascending last write (paged as upstream allows)."""
        namespace = check_namespace(namespace)
        ids: list[str] = []
        for page in range(1, MAX_PAGE + 1):
            params: dict[str, Any] = {"page": page, "size": SESSIONS_PAGE}
            if namespace:
                params["namespace"] = namespace
            batch = self._request("GET", "/sessions", params=params)
            ids.extend(batch)
            if len(batch) < SESSIONS_PAGE:
                break
        return list(dict.fromkeys(ids))

    def session_infos(self, ids: Sequence[str] | None = None) -> list[SessionInfo]:
        ids = check_session_ids(ids)
        if ids is not None and not ids:
            return []
        params = {"id": ids} if ids is not None else None
        data = self._request("GET", "/session-infos", params=params, additive=True)
        return [SessionInfo.from_dict(i) for i in data["sessions"]]

    def fork(self, session_id: str, new_id: str, at: int | None = None) -> str:
        """The server copies the rows (motorhead-magic's additive fork route)."""
        session_id, new_id, at = check_fork(session_id, new_id, at)
        body = json.dumps({"new_id": new_id, "at": at}).encode()
        self._request("POST", self._session_path(session_id, "fork"), body=body,
                      additive=True)
        self._notify("write", new_id)
        return new_id

    def search_result(self, session_id: str, text: str, k: int = 10, *,
                      mode: str | None = None, before: int | None = None,
                      as_of: int | datetime | None = None) -> SearchResult:
        """The server's search (motorhead-magic's additive route). Checked here as far as
        the arguments go; whether semantic or hybrid search can run (and which mode None
        means) depends on the server's embedder, so the server decides that: without one it
        answers 400, raised here as :class:`InvalidInput`."""
        session_id, text, k, checked, before = check_search(session_id, text, k, mode, before,
                                                            has_embedder=True)
        bound = check_as_of(as_of, before)
        if isinstance(bound, datetime):
            bound = self.first_after(session_id, bound)
        payload = {"text": text, "k": k, "mode": None if mode is None else checked,
                   "before": bound}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        if len(body) > MAX_BODY_BYTES:
            raise InvalidInput(f"this search text makes a {len(body):,} byte request; the"
                               f" server accepts at most {MAX_BODY_BYTES:,} bytes")
        data = self._request("POST", self._session_path(session_id, "search"), body=body,
                             additive=True, read_only=True)
        result = SearchResult.from_dict(data)
        self.search_note = result.note
        return result

    def delete(self, session_id: str) -> None:
        session_id = check_session_id(session_id)
        self._request("DELETE", self._session_path(session_id, "memory"))
        self._notify("delete", session_id)

    def wait(self, session_id: str | None = None, timeout: float = 30.0) -> None:
        """Block until the server's background folds (of one session, or all) are done;
        a no-op against a server without the wait route."""
        timeout = check_timeout(timeout)
        if "wait" in self._missing:
            return
        path = "/wait" if session_id is None else self._session_path(
            check_session_id(session_id), "wait")
        try:
            self._request("POST", path, params={"timeout": timeout},
                          timeout=timeout + self.timeout, additive=True)
        except EndpointMissing:
            self._missing.add("wait")

    def close(self) -> None:
        self._client.close()
