"""RemoteMemory's own behaviour (the shared semantics run in test_conformance.py):
errors when the server is down, slow or refuses, validation before sending, and
working against an upstream-only server that lacks the additive routes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import motorhead_magic as mh
from motorhead_magic.memory.remote import EndpointMissing, RemoteMemory
from tests.conftest import free_port
from tests.serve_fake import ServerProcess
from tests.test_server import turn


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    done.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def upstream_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = f"sqlite:///{tmp_path_factory.mktemp('upstream') / 'memory.db'}"
    server = ServerProcess(store, window_size=4, upstream_only=True).start()
    yield server.url
    server.stop()


def test_connect_http_gives_a_remote_memory():
    memory = mh.connect(f"http://127.0.0.1:{free_port()}", timeout=2, api_key="k",
                        client_id="c")
    assert isinstance(memory, RemoteMemory) and isinstance(memory, mh.Memory)
    memory.close()


def test_server_down_is_store_unavailable_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    memory = mh.connect(url, timeout=2)
    with pytest.raises(mh.StoreUnavailable, match=f"{url}.*unreachable"):
        memory.get("s")
    with pytest.raises(mh.StoreUnavailable, match="unreachable"):
        memory.add("s", turn(1))
    memory.close()


def test_timeout_is_in_seconds_and_named(silent_port):
    memory = mh.connect(f"http://127.0.0.1:{silent_port}", timeout=0.5)
    with pytest.raises(mh.StoreUnavailable, match="within 0.5s"):
        memory.sessions()
    memory.close()


@pytest.mark.parametrize("timeout", [0, -1, "10"])
def test_bad_timeout_is_refused(timeout):
    with pytest.raises(mh.InvalidInput, match="timeout"):
        mh.connect("http://127.0.0.1:1", timeout=timeout)


def test_bad_input_raises_before_anything_is_sent():
    memory = mh.connect(f"http://127.0.0.1:{free_port()}", timeout=2)  # nothing listens
    with pytest.raises(mh.InvalidInput, match="content"):
        memory.add("s", [{"role": "Human", "content": 1}])
    with pytest.raises(mh.InvalidInput, match="session id"):
        memory.get("")
    with pytest.raises(mh.InvalidInput, match="at most 2,097,152 bytes"):
        memory.add("s", [{"role": "Human", "content": "x" * (3 * 1024 * 1024)}])
    memory.add("s", [])  # nothing to write: no request, no error
    # Before: a 1 MB session id raised httpx.InvalidURL (a raw exception).
    with pytest.raises(mh.InvalidInput, match="URL"):
        memory.get("x" * 1_000_000)
    with pytest.raises(mh.InvalidInput, match="start"):
        memory.history("s", start="a")  # before: TypeError
    memory.close()


def test_events_for_this_clients_writes_and_deletes(tmp_path: Path):
    server = ServerProcess(f"sqlite:///{tmp_path / 'm.db'}").start()
    try:
        memory = mh.connect(server.url)
        events: list[tuple[str, str]] = []
        unsubscribe = memory.subscribe(lambda event, sid: events.append((event, sid)))
        memory.add("s", turn(1))
        memory.delete("s")
        unsubscribe()
        memory.add("s", turn(1))
        assert events == [("write", "s"), ("delete", "s")]
        memory.close()
    finally:
        server.stop()


def test_against_an_upstream_only_server(upstream_like):
    memory = mh.connect(upstream_like)
    memory.add("u/1", turn(6), namespace="ns")
    memory.add("u/2", turn(1), context="seeded")
    view = memory.get("u/1")
    assert [m.content for m in view.messages] == ["m2", "m3", "m4", "m5"]
    assert memory.get("u/2").context == "seeded"
    assert memory.sessions() == ["u/1", "u/2"]
    assert memory.sessions(namespace="ns") == ["u/1"]
    memory.wait("u/1")  # the server lacks the wait route: a no-op
    for call in (lambda: memory.history("u/1"), lambda: memory.summaries("u/1"),
                 memory.session_infos):
        with pytest.raises(EndpointMissing, match="lacks GET .*motorhead-magic server"):
            call()
    memory.delete("u/1")
    assert memory.get("u/1").messages == [] and memory.sessions() == ["u/2"]
    memory.close()
