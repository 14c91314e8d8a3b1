"""The sidebar's search route (``/motorhead-magic/api/search``) on a real Jupyter Server
(pytest-jupyter) over a real store: sessions by id and by message content, their
matching lines with the matched words marked, isolation, hostile queries, auth, the
bounded scan and the error table; and the snippet and highlight helpers."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import HTTPClientError

import motorhead_magic as mh
from motorhead_magic.errors import StoreUnavailable
from motorhead_magic.jupyter import search
from motorhead_magic.jupyter.handlers import SETTINGS_KEY, STORE_UNAVAILABLE
from motorhead_magic.jupyter.search import ELLIPSIS, scan_sessions, snippet
from motorhead_magic.stores.words import highlight
from tests.test_server_errors import FailingMemory, error_classes


@pytest.fixture
def find(http_server_client: Any, jp_auth_header: dict[str, str], jp_base_url: str,
         jp_serverapp):
    """``await find("text", size=5)``: the search route's JSON answer."""

    async def fetch(q: str | None, *, auth: bool = True, raw: bool = False,
                    **params: Any) -> Any:
        query = {} if q is None else {"q": q}
        query.update(params)
        url = f"{jp_base_url}motorhead-magic/api/search"
        if query:
            url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
        response = await http_server_client.fetch(
            url, headers=dict(jp_auth_header) if auth else {}, request_timeout=60)
        return response if raw else json.loads(response.body)

    return fetch


def say(memory: mh.Memory, session_id: str, *lines: str) -> None:
    """Add ``lines`` to a session, Human and AI in turn."""
    memory.add(session_id, [{"role": "Human" if i % 2 == 0 else "AI", "content": line}
                            for i, line in enumerate(lines)])


def marked(hit: dict[str, Any]) -> list[str]:
    """The marked words of a hit, as the sidebar shows them in <mark>."""
    return [hit["content"][start:end] for start, end in hit["marks"]]


async def test_a_word_inside_a_message_finds_the_session_and_its_line(find, memory) -> None:
    say(memory, "band practice", "what time is rehearsal?", "Rehearsal is at the warehouse,"
        " bring the flamingo costume", "ok")
    say(memory, "groceries", "milk and eggs", "and bread")
    found = await find("flamingo")
    assert [s["session_id"] for s in found["sessions"]] == ["band practice"]
    [result] = found["sessions"]
    assert result["id_match"] is False and result["messages"] == 3
    [hit] = result["hits"]
    assert hit["seq"] == 1 and hit["role"] == "AI"
    assert hit["content"] == "Rehearsal is at the warehouse, bring the flamingo costume"
    assert marked(hit) == ["flamingo"]
    assert result["score"] == hit["score"] > 0
    assert hit["created_at"].endswith("+00:00")
    assert found["total"] == 1 and found["content_matches"] == 1 and found["id_matches"] == 0
    assert found["searched"] == found["session_count"] == 2
    assert found["truncated"] is False and found["words"] == ["flamingo"]
    # The word index's stemming and diacritics: what matched is what is marked.
    say(memory, "café talk", "We were REHEARSING at the Café Noir")
    found = await find("rehearsals cafe")
    by_id = {s["session_id"]: s for s in found["sessions"]}
    assert set(by_id) == {"band practice", "café talk"}
    assert marked(by_id["café talk"]["hits"][0]) == ["REHEARSING", "Café"]
    assert {w for h in by_id["band practice"]["hits"] for w in marked(h)} == {
        "rehearsal", "Rehearsal"}


async def test_hits_are_only_the_sessions_own_lines(find, memory) -> None:
    for n in range(6):
        say(memory, f"chat {n}", *[f"chat {n} line {i} mentions kraken {'!' * i}"
                                   for i in range(5)], f"chat {n} has nothing more")
    found = await find("kraken", size=50)
    assert found["total"] == 6
    for result in found["sessions"]:
        own = {m.seq: m.content for m in memory.history(result["session_id"])}
        assert 1 <= len(result["hits"]) <= search.HITS_PER_SESSION
        for hit in result["hits"]:
            assert hit["content"] == own[hit["seq"]]  # short: the whole line, of this session
            assert marked(hit) == ["kraken"]
        scores = [h["score"] for h in result["hits"]]
        assert scores == sorted(scores, reverse=True)


async def test_names_first_then_contents_by_score(find, memory) -> None:
    say(memory, "storm notes", "nothing to see")  # matched by its id only
    say(memory, "one mention", "a storm came", "then it went", "sunny again", "and warm")
    say(memory, "all about it", "storm storm storm", "storm")
    say(memory, "both", "the storm", "is over")
    say(memory, "Storm Chaser", "the storm chaser saw a storm")  # id and content
    found = await find("storm")
    ids = [s["session_id"] for s in found["sessions"]]
    assert ids[:2] == ["Storm Chaser", "storm notes"]  # names first, newest write first
    assert set(ids[2:]) == {"one mention", "all about it", "both"}
    scores = [s["score"] for s in found["sessions"][2:]]
    assert scores == sorted(scores, reverse=True)  # then contents, best first
    chaser, notes = found["sessions"][:2]
    assert chaser["id_match"] and chaser["hits"] and marked(chaser["hits"][0]) == [
        "storm", "storm"]
    assert notes["id_match"] and notes["hits"] == [] and notes["score"] is None
    assert found["id_matches"] == 2 and found["content_matches"] == 4 and found["total"] == 5
    # Paged as the list is.
    first = await find("storm", size=2)
    second = await find("storm", size=2, page=2)
    third = await find("storm", size=2, page=3)
    assert first["pages"] == 3 and [s["session_id"] for s in first["sessions"]] == ids[:2]
    assert [s["session_id"] for s in second["sessions"]] == ids[2:4]
    assert [s["session_id"] for s in third["sessions"]] == ids[4:]


async def test_a_long_line_is_cut_around_the_match(find, memory) -> None:
    long = " ".join(f"filler{i}" for i in range(200)) + " the needle is here " + " ".join(
        f"tail{i}" for i in range(200))
    say(memory, "haystack", long)
    [result] = (await find("needle"))["sessions"]
    [hit] = result["hits"]
    assert len(hit["content"]) <= search.SNIPPET_CHARS + 2
    assert hit["content"].startswith(ELLIPSIS) and hit["content"].endswith(ELLIPSIS)
    assert marked(hit) == ["needle"]
    assert hit["content"][1:-1] in long


def test_snippets_keep_words_whole_and_marks_in_place() -> None:
    text = "x" * 300 + " the end rain"
    [marks] = highlight([text], "rain")
    cut, spans = snippet(text, marks)
    assert cut.startswith(ELLIPSIS) and cut.endswith("the end rain")
    assert [cut[s:e] for s, e in spans] == ["rain"]
    text = "rain at the start " + "y" * 300
    cut, spans = snippet(text, highlight([text], "rain")[0])
    assert cut.startswith("rain at") and cut.endswith(ELLIPSIS) and spans == [(0, 4)]
    text = "short ünïcødé ☃ 会话 rain"
    assert snippet(text, highlight([text], "RAIN")[0]) == (text, [(len(text) - 4, len(text))])
    # Astral characters count as one code point each (the browser splits by code point).
    text = "🎸🎸 guitar 🎸"
    cut, spans = snippet(text, highlight([text], "guitar")[0])
    assert [cut[s:e] for s, e in spans] == ["guitar"] and spans == [(3, 9)]


def test_highlight_uses_the_word_index_tokenizer_and_survives_marker_lookalikes() -> None:
    texts = ["\ue000 private \ue001 use rain \ue002", "no match", ""]
    marks = highlight(texts, "rain")
    assert [texts[0][s:e] for s, e in marks[0]] == ["rain"] and marks[1:] == [[], []]
    assert highlight(texts, "") == [[], [], []]
    assert highlight(texts, '"*" NEAR( AND') == [[], [], []]  # words: near, and


HOSTILE = ['"', "'", '"rain', 'rain"', 'a" OR "b', "rain OR", "NEAR(rain storm)", "*",
           "rain*", "content:rain", "scope:s1", "session_id:x", "AND", "NOT rain", "-rain",
           "^rain", "((", ")", "{rain}", "rain:", "\\", "%", "%25", "&q=x", "<b>rain</b>",
           "ünïcødé ☃ 会话", "🎸", "\u200b", "rain " * 500, "r" * 5000, "\t\n", "null", "NaN"]


@pytest.mark.parametrize("q", HOSTILE)
async def test_hostile_queries_never_fail(find, memory, q: str) -> None:
    say(memory, "target", "rain in the <b>plain</b> ünïcødé ☃ 会话 🎸", "AND NOT OR NEAR")
    say(memory, "other", "sunshine")
    found = await find(q)
    assert found["query"] == q.strip()
    for result in found["sessions"]:
        assert result["session_id"] in {"target", "other"}
        for hit in result["hits"]:
            assert all(0 <= s < e <= len(hit["content"]) for s, e in hit["marks"])


async def test_empty_query_matches_nothing(find, memory) -> None:
    say(memory, "something", "anything")
    for q in [None, "", "   "]:
        found = await find(q)
        assert found["sessions"] == [] and found["total"] == 0 and found["pages"] == 1
        assert found["searched"] == 0 and found["truncated"] is False


async def test_a_query_without_words_searches_names_only(find, memory) -> None:
    say(memory, "c++ & c#", "a language chat")
    found = await find("++")
    assert [s["session_id"] for s in found["sessions"]] == ["c++ & c#"]
    assert found["words"] == [] and found["searched"] == 0 and found["truncated"] is False


async def test_search_requires_auth(find, memory) -> None:
    say(memory, "secret", "the password is swordfish")
    with pytest.raises(HTTPClientError) as err:
        await find("swordfish", auth=False)
    assert err.value.code == 403
    assert b"swordfish" not in (err.value.response.body or b"")


@pytest.mark.parametrize("params", [{"page": 0}, {"page": "x"}, {"size": 0}, {"size": 501}])
async def test_bad_paging_is_a_json_400(find, params) -> None:
    with pytest.raises(HTTPClientError) as err:
        await find("x", **params)
    assert err.value.code == 400
    assert "must be" in json.loads(err.value.response.body)["error"]


async def test_the_scan_is_bounded_and_says_so(find, memory, monkeypatch) -> None:
    for n in range(10):
        say(memory, f"s{n}", f"needle number {n}")
    found = await find("needle", size=50)
    assert found["searched"] == 10 and found["truncated"] is False and found["total"] == 10
    monkeypatch.setattr(search, "SCAN_SESSIONS", 3)  # the most recent three only
    found = await find("needle", size=50)
    assert found["searched"] == 3 and found["truncated"] is True
    assert found["session_count"] == 10
    assert {s["session_id"] for s in found["sessions"]} == {"s9", "s8", "s7"}
    monkeypatch.setattr(search, "SCAN_SESSIONS", 10_000)
    monkeypatch.setattr(search, "SCAN_SECONDS", 0.0)  # out of time after the first
    found = await find("needle")
    assert found["searched"] == 1 and found["truncated"] is True
    assert [s["session_id"] for s in found["sessions"]] == ["s9"]
    # Names are always all matched: they cost no search.
    found = await find("s")
    assert found["id_matches"] == 10 and found["total"] == 10


def test_a_closed_request_stops_the_scan(store_url: str) -> None:
    memory = mh.connect(store_url)
    try:
        for n in range(5):
            say(memory, f"s{n}", "needle")
        stop = threading.Event()
        assert scan_sessions(memory, memory.sessions(), "needle", 3, 60, stop).searched == 5
        stop.set()
        assert scan_sessions(memory, memory.sessions(), "needle", 3, 60, stop).searched == 1
    finally:
        memory.close()


@pytest.mark.slow
async def test_ten_thousand_sessions_stay_responsive(find, memory, store_url) -> None:
    if store_url.startswith("redis"):
        pytest.skip("one backend is enough for the timing")
    for n in range(10_000):
        say(memory, f"bulk {n:05d}", f"common words in session {n}",
            "the rare word zeppelin" if n % 1000 == 0 else "common reply")
    started = time.monotonic()
    found = await find("zeppelin", size=50)
    elapsed = time.monotonic() - started
    assert elapsed < search.SCAN_SECONDS + 5, elapsed
    if not found["truncated"]:
        assert found["total"] == 10 and found["searched"] == 10_000
    started = time.monotonic()
    found = await find("common", size=50)  # every session matches: the scan's worst case
    assert time.monotonic() - started < search.SCAN_SECONDS + 5
    assert len(found["sessions"]) == 50 and found["session_count"] == 10_000


async def test_every_motorhead_error_answers_its_http_status(find, jp_serverapp) -> None:
    service = jp_serverapp.web_app.settings[SETTINGS_KEY]
    failing = FailingMemory()
    service._memory = failing
    for error_class in error_classes():
        failing.error = error = error_class(f"{error_class.__name__} on purpose")
        with pytest.raises(HTTPClientError) as err:
            await find("anything")
        assert err.value.code == error_class.http_status, error_class
        message = STORE_UNAVAILABLE if error_class.http_status == 503 else str(error)
        assert json.loads(err.value.response.body) == {
            "error": message, "status": error_class.http_status}


async def test_a_store_failing_mid_scan_is_a_503_without_its_detail(
        find, memory, jp_serverapp, monkeypatch) -> None:
    say(memory, "s", "needle")
    served = await jp_serverapp.web_app.settings[SETTINGS_KEY].memory()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("Redis at redis://:hunter2@10.9.8.7:6380/0 failed")

    monkeypatch.setattr(served, "search", broken)
    with pytest.raises(HTTPClientError) as err:
        await find("needle")
    text = err.value.response.body.decode()
    assert err.value.code == 503 and json.loads(text)["error"] == STORE_UNAVAILABLE
    assert "hunter2" not in text and "10.9.8.7" not in text


async def test_a_browser_that_goes_away_stops_the_scan(
        memory, jp_serverapp, http_server_client, jp_base_url, jp_auth_header, monkeypatch) -> None:
    """The sidebar aborts a search when the user types on: the server stops scanning."""
    import asyncio

    for n in range(300):
        say(memory, f"s{n}", "needle")
    served = await jp_serverapp.web_app.settings[SETTINGS_KEY].memory()
    calls: list[str] = []
    real = served.search

    def slow(session_id: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(session_id)
        time.sleep(0.02)  # 300 sessions: 6 s
        return real(session_id, *args, **kwargs)

    monkeypatch.setattr(served, "search", slow)
    monkeypatch.setattr(search, "SCAN_SECONDS", 60.0)
    port = http_server_client.get_http_port()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    token = jp_auth_header["Authorization"]
    writer.write(f"GET {jp_base_url}motorhead-magic/api/search?q=needle HTTP/1.1\r\n"
                 f"Host: 127.0.0.1\r\nAuthorization: {token}\r\n\r\n".encode())
    await writer.drain()
    for _ in range(200):
        if len(calls) >= 5:
            break
        await asyncio.sleep(0.05)
    assert len(calls) >= 5  # the scan is under way
    writer.close()
    await asyncio.sleep(1.0)
    stopped_at = len(calls)
    await asyncio.sleep(0.5)
    assert len(calls) == stopped_at < 300, stopped_at
