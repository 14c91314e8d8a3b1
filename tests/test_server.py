"""The wire contract (MOTORHEAD-API.md), route by route, against our server as a real
process on a free loopback port, spoken to with raw HTTP (httpx)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from motorhead_magic.records import MemoryView
from tests.serve_fake import ServerProcess


def start(tmp: Path, **kwargs) -> ServerProcess:
    return ServerProcess(f"sqlite:///{tmp / 'memory.db'}", **kwargs).start()


@pytest.fixture(scope="module")
def folding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server with window 4 and the echo summarizer, shared by this module's tests
    (each test uses its own session ids)."""
    server = start(tmp_path_factory.mktemp("folding"), window_size=4, summarizer="echo")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[httpx.Client]:
    """A server of its own over an empty store (for session listings), window 4, no model."""
    server = start(tmp_path, window_size=4)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()


def path(session_id: str, route: str = "memory") -> str:
    return f"/sessions/{quote(session_id, safe='')}/{route}"


def post(client: httpx.Client, sid: str, messages: list[dict], **body) -> httpx.Response:
    return client.post(path(sid), json={"messages": messages, **body})


def turn(n: int, start: int = 0) -> list[dict]:
    return [{"role": "Human" if i % 2 == 0 else "AI", "content": f"m{i}"}
            for i in range(start, start + n)]


def test_health_answers_the_clock_in_ms(folding):
    reply = folding.get("/")
    assert reply.status_code == 200
    assert abs(reply.json()["now"] - time.time() * 1000) < 60_000


def test_unknown_session_is_empty_not_404(folding):
    reply = folding.get(path("never-written"))
    assert reply.status_code == 200
    assert reply.json() == {"messages": [], "context": None, "tokens": 0}


def test_post_then_get_newest_first_roles_as_posted(folding):
    messages = [{"role": "Human", "content": "hi im bob"}, {"role": "AI", "content": "Hi Bob!"},
                {"role": "Narrateur ✍", "content": "plus tard"}]
    reply = post(folding, "bob", messages)
    assert (reply.status_code, reply.json()) == (200, {"status": "Ok"})
    body = folding.get(path("bob")).json()
    assert body["messages"] == list(reversed(messages))
    assert body["context"] is None and body["tokens"] == 0


def test_posts_append_in_array_order(folding):
    post(folding, "order", turn(2))
    post(folding, "order", turn(2, 2))
    assert [m["content"] for m in folding.get(path("order")).json()["messages"]] == [
        "m3", "m2", "m1", "m0"]


def test_window_is_at_most_w_and_a_fold_makes_context_and_tokens(folding):
    post(folding, "fold", turn(5))
    assert folding.post(path("fold", "wait")).json() == {"status": "Ok"}
    body = folding.get(path("fold")).json()
    assert [m["content"] for m in body["messages"]] == ["m4", "m3"]  # W // 2 newest kept
    assert body["context"] == "Human: m0 / AI: m1 / Human: m2"
    assert body["tokens"] > 0
    post(folding, "fold", turn(20, 5))
    folding.post(path("fold", "wait"))
    assert len(folding.get(path("fold")).json()["messages"]) <= 4  # never W + 1


def test_context_replaces_summary_and_empty_messages_is_a_no_op(folding):
    post(folding, "ctx", turn(2))
    reply = post(folding, "ctx", [], context="seeded elsewhere")
    assert (reply.status_code, reply.json()) == (200, {"status": "Ok"})
    body = folding.get(path("ctx")).json()
    assert body["context"] == "seeded elsewhere"
    assert [m["content"] for m in body["messages"]] == ["m1", "m0"]
    post(folding, "ctx", [], context="NONE")  # the summary prompt's "nothing to say"
    assert folding.get(path("ctx")).json()["context"] == "NONE"
    post(folding, "ctx", turn(1, 2), context=None)  # null context changes nothing
    assert folding.get(path("ctx")).json()["context"] == "NONE"


def test_delete_is_total_and_ok_for_unknown_ids(folding):
    post(folding, "doomed", turn(9))
    folding.post(path("doomed", "wait"))
    assert folding.delete(path("doomed")).json() == {"status": "Ok"}
    assert folding.get(path("doomed")).json() == {"messages": [], "context": None, "tokens": 0}
    assert folding.get(path("doomed", "summaries")).json() == {"summaries": []}
    assert folding.delete(path("no-such-session")).json() == {"status": "Ok"}


def test_retrieval_is_disabled_as_upstream_says(folding):
    reply = folding.post(path("bob", "retrieval"), json={"text": "bob"})
    assert reply.status_code == 400
    assert reply.text == "Long term memory is disabled"


def test_sessions_ascending_last_write_paged(fresh):
    for sid in ("a", "b", "c", "d", "e"):
        post(fresh, sid, turn(1))
    post(fresh, "a", turn(1, 1))
    assert fresh.get("/sessions").json() == ["b", "c", "d", "e", "a"]
    assert fresh.get("/sessions", params={"page": 1, "size": 2}).json() == ["b", "c"]
    assert fresh.get("/sessions", params={"page": 3, "size": 2}).json() == ["a"]
    assert fresh.get("/sessions", params={"page": 4, "size": 2}).json() == []
    assert fresh.get("/sessions", params={"page": 100, "size": 2}).json() == []


def test_sessions_default_page_size_is_10(fresh):
    for i in range(12):
        post(fresh, f"s{i:02}", turn(1))
    assert fresh.get("/sessions").json() == [f"s{i:02}" for i in range(10)]
    assert fresh.get("/sessions?page=2").json() == ["s10", "s11"]


def test_page_over_100_is_upstreams_plain_text_400(fresh):
    reply = fresh.get("/sessions", params={"page": 101})
    assert reply.status_code == 400
    assert reply.text == "Page size must not exceed 100"


@pytest.mark.parametrize("query", ["page=abc", "size=x", "page=0", "size=0", "page=-1",
                                   "page=1.5"])
def test_bad_query_values_are_400_json(fresh, query):
    reply = fresh.get(f"/sessions?{query}")
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("query parameter")


def test_namespace_scopes_listing_only(fresh):
    fresh.post(path("x"), params={"namespace": "team"}, json={"messages": turn(1)})
    post(fresh, "y", turn(1))
    assert fresh.get("/sessions", params={"namespace": "team"}).json() == ["x"]
    assert fresh.get("/sessions").json() == ["x", "y"]
    assert fresh.get("/sessions", params={"namespace": "other"}).json() == []
    assert [m["content"] for m in fresh.get(path("x")).json()["messages"]] == ["m0"]


def test_metal_headers_are_ignored_without_an_api_key(folding):
    headers = {"x-metal-api-key": "old-managed-key", "x-metal-client-id": "client"}
    assert folding.get(path("bob"), headers=headers).status_code == 200


ODD_IDS = ["a/b/c", "ünïcødé 会话 🤘", "quote'\"`", "spaces and\ttab", "x" * 1024,
           "100% %2F literal", "ends/with/memory", "../../etc/passwd", "q?x=1#frag",
           "line\nbreak\x0cfeed"]


@pytest.mark.parametrize("session_id", ODD_IDS, ids=range(len(ODD_IDS)))
def test_odd_ids_survive_the_path(fresh, session_id):
    assert post(fresh, session_id, turn(2)).status_code == 200
    assert [m["content"] for m in fresh.get(path(session_id)).json()["messages"]] == [
        "m1", "m0"]
    assert fresh.get("/sessions").json() == [session_id]
    assert fresh.delete(path(session_id)).status_code == 200
    assert fresh.get("/sessions").json() == []


def test_history_pages_by_cursor_with_seq_tokens_and_times(fresh):
    post(fresh, "long", [{"role": "Human", "content": f"m{i}", "metadata": {"i": i}}
                         for i in range(25)])
    first = fresh.get(path("long", "messages"), params={"limit": 10}).json()
    assert [m["seq"] for m in first["messages"]] == list(range(10))
    assert first["next_cursor"] == 10
    seen, cursor = [], 0
    while cursor is not None:
        page = fresh.get(path("long", "messages"), params={"cursor": cursor, "limit": 10}).json()
        seen += page["messages"]
        cursor = page["next_cursor"]
    assert [m["content"] for m in seen] == [f"m{i}" for i in range(25)]
    assert seen[3]["metadata"] == {"i": 3} and seen[3]["tokens"] > 0
    assert seen[3]["created_at"].endswith("+00:00") and seen[3]["summarized"] is False
    assert fresh.get(path("long", "messages"), params={"cursor": 99}).json() == {
        "messages": [], "next_cursor": None}
    assert fresh.get(path("long", "messages"), params={"limit": 1001}).status_code == 400


def test_summaries_window_and_session_infos(folding):
    post(folding, "sums", turn(5))
    folding.post(path("sums", "wait"))
    [summary] = folding.get(path("sums", "summaries")).json()["summaries"]
    assert summary["through_seq"] == 2 and summary["tokens_used"] > 0
    window = folding.get(path("sums", "window")).json()
    assert [m["seq"] for m in window["messages"]] == [3, 4]
    assert window["summary"] == summary and window["window_size"] == 4
    # The body is MemoryView.to_dict() plus window_size, and decodes back without loss.
    view = MemoryView.from_dict(window)
    assert view.session_id == "sums" and view.message_count == 5
    assert view.to_dict() == {k: v for k, v in window.items() if k != "window_size"}
    infos = {i["session_id"]: i for i in folding.get("/session-infos").json()["sessions"]}
    assert (infos["sums"]["messages"], infos["sums"]["summaries"]) == (5, 1)


def test_wait_for_everything(folding):
    post(folding, "w1", turn(9))
    assert folding.post("/wait", params={"timeout": 60}).json() == {"status": "Ok"}
    assert folding.get(path("w1", "summaries")).json()["summaries"]
    assert folding.post("/wait", params={"timeout": "soon"}).status_code == 400


def test_openapi_describes_every_route(folding):
    spec = folding.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    operations = {(method.upper(), route) for route, item in spec["paths"].items()
                  for method in item}
    assert {("GET", "/"), ("GET", "/sessions"), ("GET", "/sessions/{session_id}/memory"),
            ("POST", "/sessions/{session_id}/memory"),
            ("DELETE", "/sessions/{session_id}/memory"),
            ("POST", "/sessions/{session_id}/retrieval"),
            ("GET", "/sessions/{session_id}/messages"),
            ("GET", "/sessions/{session_id}/summaries")} <= operations
