"""Bad input and failures against a real server process: every row of the error table,
odd bodies, a dead store, and deletes racing folds. The server must stay up, answer
valid JSON and lose nothing. The error table itself (every ``MotorheadError`` answers its
``http_status``) is checked in-process, on a memory that fails on purpose."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import motorhead_magic as mh
from motorhead_magic import errors
from motorhead_magic.memory import MemoryBase
from motorhead_magic.server import create_app
from tests.conftest import free_port, require_binary, wait_for_port
from tests.serve_fake import ServerProcess
from tests.test_server import path, turn

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    store = f"sqlite:///{tmp_path_factory.mktemp('errors') / 'memory.db'}"
    process = ServerProcess(store, window_size=4, summarizer="slow").start()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client
        assert client.get("/").status_code == 200  # still up after whatever the test did


JSON = {"content-type": "application/json"}

BAD_BODIES = [
    (b"{not json", JSON, "not valid JSON"),
    (b"", JSON, "not valid JSON"),
    (b"[1, 2]", JSON, "JSON object"),
    (b'{"context": "x"}', JSON, "missing field `messages`"),
    (b'{"messages": "hi"}', JSON, "`messages` must be an array"),
    (b'{"messages": [{"content": "no role"}]}', JSON, "role"),
    (b'{"messages": [{"role": "Human"}]}', JSON, "content"),
    (b'{"messages": [{"role": "Human", "content": 42}]}', JSON, "content"),
    (b'{"messages": [{"role": 7, "content": "x"}]}', JSON, "role"),
    (b'{"messages": ["just text"]}', JSON, "message 0"),
    (b'{"messages": [], "context": 5}', JSON, "`context`"),
    (b'{"messages": [{"role": "H", "content": "x", "metadata": [1]}]}', JSON, "metadata"),
    (b'{"messages": [{"role": "H", "content": "x", "metadata": {"n": NaN}}]}', JSON,
     "NaN"),
    (b"\xff\xfe{}", JSON, "UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, JSON, "not valid JSON"),
    (b'{"messages": []}', {"content-type": "text/plain"}, "Content-Type"),
    (b'{"messages": []}', {}, "Content-Type"),
]


@pytest.mark.parametrize(("body", "headers", "named"), BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_bodies_are_400_valid_json_naming_the_problem(client, body, headers, named):
    reply = client.post(path("bad"), content=body, headers=headers)
    assert reply.status_code == 400
    assert named in reply.json()["error"]
    assert client.get(path("bad")).json()["messages"] == []  # nothing half-written


def test_error_text_with_quotes_is_still_valid_json(client):
    reply = client.post(path("bad"), content=b'{"messages": [{"role": "\\"}", "content": 1}]}',
                        headers=JSON)
    assert reply.status_code == 400 and isinstance(reply.json()["error"], str)


def test_body_of_2_mib_plus_one_byte_is_413(client):
    filler = "x" * (TWO_MIB - len('{"messages":[{"role":"Human","content":""}]}') + 1)
    body = json.dumps({"messages": [{"role": "Human", "content": filler}]},
                      separators=(",", ":")).encode()
    assert len(body) == TWO_MIB + 1
    reply = client.post(path("huge"), content=body, headers=JSON)
    assert reply.status_code == 413 and "limit" in reply.json()["error"]
    at_limit = body.replace(b"x", b"", 1)
    assert client.post(path("huge"), content=at_limit, headers=JSON).status_code == 200


def test_oversized_chunked_body_is_413_too(client):
    def chunks() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "Human", "content": "'
        for _ in range(3):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    reply = client.post(path("chunked"), content=chunks(), headers=JSON)
    assert reply.status_code == 413


def test_ten_thousand_messages_in_one_post(client):
    messages = [{"role": "Human" if i % 2 == 0 else "AI", "content": f"message {i}"}
                for i in range(10_000)]
    assert client.post(path("many"), json={"messages": messages}).status_code == 200
    client.post(path("many", "wait"), params={"timeout": 300})
    seen, cursor = [], 0
    while cursor is not None:
        page = client.get(path("many", "messages"), params={"cursor": cursor, "limit": 1000})
        seen += [m["content"] for m in page.json()["messages"]]
        cursor = page.json()["next_cursor"]
    assert seen == [m["content"] for m in messages]
    assert len(client.get(path("many")).json()["messages"]) <= 4


@pytest.mark.parametrize(("method", "url", "status"), [
    ("GET", "/no/such/route", 404), ("GET", "/sessions/x", 404), ("PUT", "/sessions/x/memory", 405),
    ("PATCH", "/sessions", 405), ("GET", "/sessions/x/retrieval", 405), ("DELETE", "/", 405),
])
def test_unknown_routes_and_methods_are_404_or_405_json(client, method, url, status):
    reply = client.request(method, url)
    assert reply.status_code == status
    assert "error" in reply.json()


def test_deletes_racing_folds_leave_nothing_behind_and_lose_no_neighbour(client):
    """DELETE while the slow summarizer folds: the fold must not resurrect anything."""
    errors: list[str] = []

    def neighbour() -> None:
        for i in range(40):
            reply = client.post(path("neighbour"), json={"messages": turn(1, i)})
            if reply.status_code != 200:
                errors.append(reply.text)

    writer = threading.Thread(target=neighbour)
    writer.start()
    for _ in range(8):
        assert client.post(path("racy"), json={"messages": turn(30)}).status_code == 200
        assert client.delete(path("racy")).status_code == 200
    writer.join()
    client.post("/wait", params={"timeout": 300})
    assert client.get(path("racy")).json() == {"messages": [], "context": None, "tokens": 0}
    assert client.get(path("racy", "summaries")).json() == {"summaries": []}
    assert client.get(path("racy", "messages")).json()["messages"] == []
    assert "racy" not in client.get("/sessions", params={"size": 1000}).json()
    history = client.get(path("neighbour", "messages"), params={"limit": 1000}).json()
    assert [m["content"] for m in history["messages"]] == [f"m{i}" for i in range(40)]
    assert not errors
    client.post(path("racy"), json={"messages": turn(1)})  # the id is reusable, clean
    assert [m["seq"] for m in client.get(path("racy", "window")).json()["messages"]] == [0]


def test_store_failure_is_503_json_and_the_server_recovers(tmp_path: Path):
    binary = require_binary("redis-server")
    port = free_port()
    redis_args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(tmp_path)]
    redis_proc = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL)
    wait_for_port(port, proc=redis_proc)
    server = ServerProcess(f"redis://127.0.0.1:{port}/0", window_size=4).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.post(path("s"), json={"messages": turn(2)}).status_code == 200
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            for reply in (client.get(path("s")), client.delete(path("s")),
                          client.post(path("s"), json={"messages": turn(1)}),
                          client.get("/sessions")):
                assert reply.status_code == 503
                assert "unavailable" in reply.json()["error"]
            assert client.get("/").status_code == 200
            redis_proc = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL)
            wait_for_port(port, proc=redis_proc)
            assert client.post(path("s"), json={"messages": turn(1)}).status_code == 200
    finally:
        server.stop()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def test_remote_memory_reports_503_as_store_unavailable(tmp_path: Path):
    binary = require_binary("redis-server")
    port = free_port()
    redis_proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                   "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_for_port(port, proc=redis_proc)
    server = ServerProcess(f"redis://127.0.0.1:{port}/0").start()
    try:
        memory = mh.connect(server.url)
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        with pytest.raises(mh.StoreUnavailable, match="503"):
            memory.add("s", turn(1))
        memory.close()
    finally:
        server.stop()
        if redis_proc.poll() is None:
            redis_proc.terminate()


# -- the error table, in-process ------------------------------------------------------------


def error_classes() -> list[type[errors.MotorheadError]]:
    """MotorheadError and every subclass of it in the error table (``errors.py``), at any
    depth. (Subclasses elsewhere are left out: which of them exist depends on what has
    been imported, and they may take other arguments.)"""
    found, todo = [], [errors.MotorheadError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted((c for c in found if c.__module__ == errors.__name__),
                  key=lambda c: c.__name__)


class FailingMemory(MemoryBase):
    """A Memory whose every data call raises ``error`` (the async twins are the base's)."""

    url = "failing://"
    window_size = 4
    tokenizer = "none"

    def __init__(self, error: BaseException | None = None) -> None:
        super().__init__()
        self.error = error

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        return None

    def add(self, session_id: str, messages: Sequence[Any], *, context: str | None = None,
            namespace: str | None = None) -> None:
        self._fail()

    get = history = summaries = sessions = session_infos = delete = wait = _fail

    def close(self) -> None:
        pass


FAILING_CALLS = [
    ("GET", "/sessions/x/memory"), ("POST", "/sessions/x/memory"),
    ("DELETE", "/sessions/x/memory"), ("GET", "/sessions"), ("GET", "/sessions/x/window"),
    ("GET", "/sessions/x/messages"), ("GET", "/sessions/x/summaries"),
    ("GET", "/session-infos"), ("POST", "/sessions/x/wait"), ("POST", "/wait"),
]


@pytest.mark.parametrize("error_class", error_classes(), ids=lambda c: c.__name__)
def test_every_motorhead_error_answers_its_http_status(error_class):
    error = error_class(f"{error_class.__name__} on purpose")
    # A store failure tells the client its kind only (details name hosts and paths).
    expected = ("store unavailable" if issubclass(error_class, errors.StoreUnavailable)
                else str(error))
    with TestClient(create_app(FailingMemory(error)), raise_server_exceptions=False) as client:
        for method, url in FAILING_CALLS:
            reply = client.request(method, url, json={"messages": turn(1)})
            assert reply.status_code == error_class.http_status, (method, url)
            assert expected in reply.json()["error"], (method, url)


def test_the_table_reaches_beyond_400_and_503():
    """EndpointMissing and NotAuthorized were 500s while the server had one handler per
    class; a summary failure is still a 500, but with its message."""
    statuses = {}
    for error in (errors.EndpointMissing("gone"), errors.NotAuthorized("no key"),
                  errors.WaitTimedOut("still folding"), errors.SummaryFailed("model down")):
        with TestClient(create_app(FailingMemory(error)),
                        raise_server_exceptions=False) as client:
            reply = client.get("/sessions/x/memory")
            statuses[type(error).__name__] = (reply.status_code, reply.json()["error"])
    assert statuses == {"EndpointMissing": (404, "gone"), "NotAuthorized": (401, "no key"),
                        "WaitTimedOut": (504, "still folding"),
                        "SummaryFailed": (500, "model down")}


def test_store_unavailable_keeps_its_prefix_and_a_bug_stays_a_logged_500(caplog):
    with TestClient(create_app(FailingMemory(errors.StoreUnavailable("redis is down"))),
                    raise_server_exceptions=False) as client:
        reply = client.get("/sessions")
        assert (reply.status_code, reply.json()) == (503, {"error": "store unavailable"})
    assert "store unavailable on GET /sessions: redis is down" in caplog.text
    with TestClient(create_app(FailingMemory(KeyError("bug"))),
                    raise_server_exceptions=False) as client:
        reply = client.get("/sessions")
        assert (reply.status_code, reply.json()) == (500, {"error": "internal error: KeyError"})
    assert "unexpected error on GET /sessions" in caplog.text


def test_memory_route_answers_head_as_get_and_405_names_the_allowed_methods(client):
    got = client.get(path("head"))
    head = client.head(path("head"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == got.headers["content-length"]
    for method in ("PUT", "PATCH", "OPTIONS"):
        reply = client.request(method, path("head"))
        assert reply.status_code == 405, method
        assert set(reply.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "DELETE"}
        assert "error" in reply.json()
