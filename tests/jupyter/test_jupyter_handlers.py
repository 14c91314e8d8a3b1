"""The sidebar's HTTP API on a real Jupyter Server (pytest-jupyter).

The store (a temporary SQLite file, or a real Redis) is reached the way a kernel
reaches it (env ``MOTORHEAD_URL``, ``connect()`` without a URL), seeded by the test.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient
from tornado.httpclient import HTTPClientError

import motorhead_magic as mh
from motorhead_magic.errors import StoreUnavailable
from motorhead_magic.jupyter.handlers import CANNOT_OPEN, SETTINGS_KEY, STORE_UNAVAILABLE
from motorhead_magic.records import FoldProgress, MemoryView
from motorhead_magic.server import create_app
from tests.fakes import SummaryEcho
from tests.test_server_errors import FailingMemory, error_classes

ODD_IDS = [
    "with space",
    "quote's \"double\"",
    "slash/inside/id",
    "ünïcødé ☃ 会话",
    "100%",
    "pre%2Fencoded",
    "..",
    "history",
    "a?b#c&d=e",
    "+plus+",
]


@pytest.fixture
def api(http_server_client: Any, jp_auth_header: dict[str, str], jp_base_url: str, jp_serverapp):
    """``await api("sessions", sid, "history", params={...})``: each part is
    percent-encoded as one path segment, as the TypeScript client does."""

    async def fetch(*parts: str, params: dict[str, Any] | None = None, auth: bool = True,
                    **kwargs: Any) -> Any:
        path = "/".join(quote(p, safe="") for p in parts)
        url = f"{jp_base_url}motorhead-magic/api/{path}"
        if params:
            url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        headers = dict(jp_auth_header) if auth else {}
        return await http_server_client.fetch(url, headers=headers, request_timeout=30,
                                              **kwargs)

    return fetch


def body(response: Any) -> Any:
    return json.loads(response.body)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def server_log(jp_serverapp) -> Iterator[list[str]]:
    """Every line the server logs while the test runs (the Jupyter log, which does not
    propagate, tornado's loggers and the root)."""
    import tornado.log

    collect = _Collect()
    loggers = {id(lg): lg for lg in (jp_serverapp.log, logging.getLogger(),
                                     tornado.log.app_log, tornado.log.gen_log,
                                     tornado.log.access_log)}.values()
    for lg in loggers:
        lg.addHandler(collect)
    yield collect.lines
    for lg in loggers:
        lg.removeHandler(collect)


def turn(i: int) -> list[dict[str, str]]:
    return [{"role": "Human", "content": f"question {i}"}, {"role": "AI", "content": f"answer {i}"}]


async def test_requests_without_auth_are_rejected(api, memory) -> None:
    memory.add("s", turn(0))
    for parts, method in [(("sessions",), "GET"), (("sessions", "s"), "GET"),
                          (("sessions", "s", "history"), "GET"),
                          (("sessions", "s", "summaries"), "GET"), (("sessions", "s"), "DELETE")]:
        with pytest.raises(HTTPClientError) as err:
            await api(*parts, method=method, auth=False)
        assert err.value.code == 403, (parts, method)
    assert memory.sessions() == ["s"]  # the unauthenticated DELETE did nothing


async def test_empty_store_lists_nothing(api) -> None:
    page = body(await api("sessions"))
    assert page["sessions"] == [] and page["total"] == 0 and page["pages"] == 1


async def test_session_list_is_paginated_newest_first(api, memory) -> None:
    for i in range(120):
        memory.add(f"session-{i:03d}", turn(i)[:1])
    first = body(await api("sessions", params={"page": 1, "size": 50}))
    assert first["total"] == 120 and first["pages"] == 3
    ids = [s["session_id"] for s in first["sessions"]]
    assert ids == [f"session-{i:03d}" for i in range(119, 69, -1)]
    assert first["sessions"][0]["messages"] == 1
    assert first["sessions"][0]["last_write"].endswith("+00:00")
    last = body(await api("sessions", params={"page": 3, "size": 50}))
    assert [s["session_id"] for s in last["sessions"]][-1] == "session-000"
    assert len(last["sessions"]) == 20
    beyond = body(await api("sessions", params={"page": 9, "size": 50}))
    assert beyond["sessions"] == [] and beyond["total"] == 120
    found = body(await api("sessions", params={"q": "SESSION-11"}))
    assert [s["session_id"] for s in found["sessions"]] == [
        f"session-{i}" for i in range(119, 109, -1)
    ]


@pytest.mark.parametrize("params", [{"page": 0}, {"page": "x"}, {"size": 0}, {"size": 501}])
async def test_bad_paging_is_a_json_400(api, params) -> None:
    with pytest.raises(HTTPClientError) as err:
        await api("sessions", params=params)
    assert err.value.code == 400
    assert "must be" in json.loads(err.value.response.body)["error"]


async def test_session_detail_has_window_summary_and_counts(api, store_url) -> None:
    memory = mh.connect(store_url, window_size=4, summarizer=SummaryEcho())
    try:
        for i in range(5):
            memory.add("chat", turn(i))
            memory.wait("chat")
    finally:
        memory.close()
    detail = body(await api("sessions", "chat"))
    assert detail["message_count"] == 10
    assert detail["summary_count"] >= 1
    assert detail["summary"]["through_seq"] >= 0
    assert "question 0" in detail["context"]
    assert 1 <= len(detail["messages"]) <= 4
    assert detail["messages"][-1]["content"] == "answer 4"
    assert detail["messages"][-1]["seq"] == 9
    assert detail["tokens"] == sum(
        s["tokens_used"] for s in body(await api("sessions", "chat", "summaries"))["summaries"]
    )
    summaries = body(await api("sessions", "chat", "summaries"))["summaries"]
    assert len(summaries) == detail["summary_count"]
    assert summaries[-1]["context"] == detail["context"]
    # What the store knows: messages after the summary point; no kernel's window size.
    assert detail["after_summary"] == 10 - (detail["summary"]["through_seq"] + 1)
    assert "window_size" not in detail and "window_tokens" not in detail
    assert detail["progress"] == []


async def test_detail_counts_messages_after_the_summary_point(api, memory) -> None:
    memory.add("fresh", turn(0) + turn(1))
    detail = body(await api("sessions", "fresh"))
    assert detail["summary"] is None and detail["summary_count"] == 0
    assert detail["after_summary"] == detail["message_count"] == 4
    memory.add("fresh", turn(2), context="a client's summary")  # context first, at point -1
    detail = body(await api("sessions", "fresh"))
    assert detail["summary_count"] == 1 and detail["summary"]["through_seq"] == -1
    assert detail["after_summary"] == detail["message_count"] == 6


async def test_detail_shows_background_progress_the_memory_knows_of(
        api, memory, jp_serverapp, monkeypatch) -> None:
    memory.add("busy", turn(0))
    assert body(await api("sessions", "busy"))["progress"] == []
    served = await jp_serverapp.web_app.settings[SETTINGS_KEY].memory()
    work = [FoldProgress("busy", "summarizing", chunk=2, chunks=26, backlog=1180)]
    monkeypatch.setattr(served, "progress",
                        lambda session_id=None: [p for p in work if p.session_id == session_id])
    detail = body(await api("sessions", "busy"))
    assert detail["progress"] == ["summarizing busy, chunk 3/26 (1,180 messages to fold)"]
    memory.add("idle", turn(0))
    assert body(await api("sessions", "idle"))["progress"] == []


async def test_detail_and_list_say_where_a_fork_came_from(api, memory) -> None:
    for i in range(4):
        memory.add("band", turn(i))
    memory.fork("band", "band/take 2", at=5)
    fork = body(await api("sessions", "band/take 2"))
    assert fork["parent"] == "band" and fork["forked_at"] == 5
    assert fork["message_count"] == 6 and fork["messages"][-1]["content"] == "answer 2"
    parent = body(await api("sessions", "band"))
    assert parent["parent"] is None and parent["forked_at"] is None
    listed = {s["session_id"]: s for s in body(await api("sessions"))["sessions"]}
    assert listed["band/take 2"]["parent"] == "band"
    assert listed["band/take 2"]["forked_at"] == 5
    assert listed["band"]["parent"] is None and listed["band"]["forked_at"] is None
    mine = memory.session_infos(["band/take 2"])[0].to_dict()  # window_tokens: our window
    assert {k: v for k, v in listed["band/take 2"].items() if k != "window_tokens"} == {
        k: v for k, v in mine.items() if k != "window_tokens"}
    found = body(await api("sessions", params={"q": "take"}))["sessions"]
    assert [(s["session_id"], s["parent"]) for s in found] == [("band/take 2", "band")]
    memory.delete("band")  # the fork keeps its lineage after the parent is gone
    assert body(await api("sessions", "band/take 2"))["parent"] == "band"


async def test_unknown_session_is_a_json_404(api) -> None:
    with pytest.raises(HTTPClientError) as err:
        await api("sessions", "nope")
    assert err.value.code == 404
    assert json.loads(err.value.response.body)["error"] == "no session 'nope'"
    empty = body(await api("sessions", "nope", "history"))
    assert empty["messages"] == [] and empty["total"] == 0 and empty["next_cursor"] is None


async def test_history_pages_backwards_from_the_newest(api, memory) -> None:
    memory.add("long", [{"role": "Human", "content": f"m{i}"} for i in range(250)])
    page = body(await api("sessions", "long", "history", params={"limit": 100}))
    assert [m["seq"] for m in page["messages"]] == list(range(150, 250))
    assert page["total"] == 250 and page["next_cursor"] == 150
    page = body(await api("sessions", "long", "history",
                          params={"limit": 100, "cursor": page["next_cursor"]}))
    assert [m["seq"] for m in page["messages"]] == list(range(50, 150))
    page = body(await api("sessions", "long", "history",
                          params={"limit": 100, "cursor": page["next_cursor"]}))
    assert [m["seq"] for m in page["messages"]] == list(range(0, 50))
    assert page["next_cursor"] is None
    assert page["messages"][0]["content"] == "m0" and page["messages"][0]["tokens"] > 0
    with pytest.raises(HTTPClientError) as err:
        await api("sessions", "long", "history", params={"cursor": -1})
    assert err.value.code == 400


@pytest.mark.parametrize("session_id", ODD_IDS)
async def test_odd_session_ids_round_trip(api, memory, session_id: str) -> None:
    memory.add(session_id, turn(1))
    memory.add("other", turn(2))
    listed = body(await api("sessions", params={"q": session_id}))
    assert session_id in [s["session_id"] for s in listed["sessions"]]
    detail = body(await api("sessions", session_id))
    assert detail["session_id"] == session_id and detail["message_count"] == 2
    history = body(await api("sessions", session_id, "history"))
    assert [m["content"] for m in history["messages"]] == ["question 1", "answer 1"]
    response = await api("sessions", session_id, method="DELETE")
    assert response.code == 204
    assert memory.sessions() == ["other"]


async def test_delete_removes_everything_of_one_session(api, memory) -> None:
    memory.add("gone", turn(1), context="a client summary")
    memory.add("kept", turn(2))
    assert (await api("sessions", "gone", method="DELETE")).code == 204
    with pytest.raises(HTTPClientError) as err:
        await api("sessions", "gone")
    assert err.value.code == 404
    assert [s["session_id"] for s in body(await api("sessions"))["sessions"]] == ["kept"]
    assert memory.history("gone") == [] and memory.summaries("gone") == []
    # Deleting what is not there is not an error (idempotent, like the Motörhead API).
    assert (await api("sessions", "gone", method="DELETE")).code == 204


async def test_a_store_that_cannot_open_is_a_json_503(api, monkeypatch, server_log) -> None:
    monkeypatch.setenv("MOTORHEAD_URL", "bogus://nowhere")  # read on the first request
    with pytest.raises(HTTPClientError) as err:
        await api("sessions")
    assert err.value.code == 503
    assert json.loads(err.value.response.body) == {"error": CANNOT_OPEN, "status": 503}
    assert any("unknown URL scheme 'bogus'" in line for line in server_log), server_log


async def test_a_503_names_no_host_and_no_password(api, monkeypatch, server_log) -> None:
    """The body says what failed; the detail, redacted, is in the server log only."""
    monkeypatch.setenv("MOTORHEAD_URL", "redis://:pw@127.0.0.1:1/0")  # nothing listens there
    for parts in [("sessions",), ("sessions", "s"), ("sessions", "s", "history")]:
        with pytest.raises(HTTPClientError) as err:
            await api(*parts)
        assert err.value.code == 503
        text = err.value.response.body.decode()
        assert json.loads(text) == {"error": CANNOT_OPEN, "status": 503}
        assert "pw" not in text and "127.0.0.1" not in text and "redis" not in text
    detail = [line for line in server_log if "redis://" in line]
    assert detail and all("127.0.0.1:1" in line and ":***@" in line for line in detail)
    assert not any(":pw@" in line for line in server_log), server_log


async def test_a_store_failing_later_is_a_503_without_its_detail(
        api, jp_serverapp, server_log) -> None:
    service = jp_serverapp.web_app.settings[SETTINGS_KEY]
    service._memory = FailingMemory(StoreUnavailable(
        "Redis at redis://:hunter2@10.9.8.7:6380/0?password=hunter2 failed: "
        "Error 111 connecting to 10.9.8.7:6380. Connection refused."))
    with pytest.raises(HTTPClientError) as err:
        await api("sessions", "s", "history")
    text = err.value.response.body.decode()
    assert err.value.code == 503
    assert json.loads(text) == {"error": STORE_UNAVAILABLE, "status": 503}
    assert "hunter2" not in text and "10.9.8.7" not in text
    assert any("10.9.8.7:6380" in line for line in server_log)
    assert not any("hunter2" in line for line in server_log), server_log


async def test_detail_is_the_servers_window_shape_and_round_trips(api, store_url) -> None:
    """The sidebar's detail and the Motörhead server's ``/window`` are the same
    ``MemoryView.to_dict()``, each with its extra fields beside it."""
    memory = mh.connect(store_url, window_size=4, summarizer=SummaryEcho())
    try:
        for i in range(5):
            memory.add("same shape", turn(i))
            memory.wait("same shape")
        view = memory.get("same shape")
        with TestClient(create_app(memory, close_memory=False)) as client:
            window = client.get(f"/sessions/{quote('same shape', safe='')}/window").json()
    finally:
        memory.close()
    detail = body(await api("sessions", "same shape"))
    keys = set(view.to_dict())
    assert keys == {"session_id", "messages", "context", "tokens", "summary"}
    assert {k: detail[k] for k in keys} == {k: window[k] for k in keys} == view.to_dict()
    assert MemoryView.from_dict(detail) == MemoryView.from_dict(window) == view
    extras = set(detail) - keys
    assert extras == {"message_count", "summary_count", "after_summary", "last_write",
                      "progress", "parent", "forked_at"}
    assert detail["message_count"] == view.message_count == 10


async def test_every_motorhead_error_answers_its_http_status(api, jp_serverapp) -> None:
    service = jp_serverapp.web_app.settings[SETTINGS_KEY]
    failing = FailingMemory()
    service._memory = failing  # opened already: every request reaches the failing memory
    for error_class in error_classes():
        failing.error = error = error_class(f"{error_class.__name__} on purpose")
        for parts, method in [(("sessions",), "GET"), (("sessions", "s"), "GET"),
                              (("sessions", "s", "history"), "GET"),
                              (("sessions", "s", "summaries"), "GET"),
                              (("sessions", "s"), "DELETE")]:
            with pytest.raises(HTTPClientError) as err:
                await api(*parts, method=method)
            assert err.value.code == error_class.http_status, (error_class, parts, method)
            answer = json.loads(err.value.response.body)
            # A 503 says what failed without the store's whereabouts (in the log instead).
            message = STORE_UNAVAILABLE if error_class.http_status == 503 else str(error)
            assert answer == {"error": message, "status": error_class.http_status}
