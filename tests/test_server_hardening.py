"""The server's edges (issue 11, items 4, 5, 7 and 14), against real server processes:
a 500 keeps the keep-alive connection and logs one traceback; a body that never arrives
is a 408 within the body timeout; SIGTERM answers 503 to requests blocked on the store
and does not wait for a summary call; 503 bodies name the kind of failure, never a host,
a path or a password, and no log line holds a password."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from motorhead_magic import errors
from motorhead_magic.server import create_app
from motorhead_magic.server.errors import store_reason
from tests.conftest import free_port, require_binary, wait_for_port
from tests.serve_fake import REPO, ServerProcess
from tests.test_server import path, turn
from tests.test_server_cli import serve as serve_cli
from tests.test_server_errors import FailingMemory

TRACEBACK = "Traceback (most recent call last)"


def request(conn: http.client.HTTPConnection, method: str, url: str,
            body: Any = None) -> tuple[int, dict[str, str], bytes]:
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    conn.request(method, url, body=data, headers=headers)
    reply = conn.getresponse()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()


# -- item 7 and item 14: a 500 is an answer, not a torn connection -------------------------


def test_a_500_keeps_the_connection_and_logs_one_traceback(tmp_path: Path):
    """The memory behind /summaries raises a bug. Each 500 is followed by 20 healthy
    requests on the same keep-alive connection (same socket): all must succeed."""
    server = ServerProcess(f"sqlite:///{tmp_path / 'memory.db'}",
                           extra=["--buggy", "summaries"]).start()
    failures: list[str] = []
    bugs = 5
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.connect()
        sock = conn.sock
        for trial in range(bugs):
            status, headers, body = request(conn, "GET", path("s", "summaries"))
            assert status == 500, body
            assert json.loads(body) == {"error": "internal error: KeyError"}
            for i in range(20):
                try:
                    if i % 2:
                        status, _, body = request(conn, "POST", path(f"s{trial}"),
                                                  {"messages": turn(1, i)})
                    else:
                        status, _, body = request(conn, "GET", path(f"s{trial}"))
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(f"trial {trial} request {i}: {exc!r}")
                    conn.close()
                    continue
                if status != 200:
                    failures.append(f"trial {trial} request {i}: {status} {body!r}")
                if conn.sock is not sock:
                    failures.append(f"trial {trial} request {i}: a new connection")
                    sock = conn.sock
        conn.close()
    finally:
        server.stop()
    assert not failures, failures
    assert server.output.count(TRACEBACK) == bugs, server.output
    assert server.output.count("unexpected error on GET /sessions/s/summaries") == bugs


# -- item 14: the body timeout -------------------------------------------------------------


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


HEAD = (b"POST /sessions/s/memory HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")


def test_a_body_that_never_arrives_is_408_within_the_body_timeout(tmp_path: Path):
    server = serve_cli(tmp_path, extra=["--body-timeout", "1"])
    try:
        body = json.dumps({"messages": turn(2)}).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(HEAD % len(body) + body[:10])
            started = time.monotonic()
            answer = read_until_closed(sock)  # the server closes after its 408
            elapsed = time.monotonic() - started
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert b"connection: close" in head.lower()
        assert "body" in json.loads(payload)["error"]
        assert 0.8 < elapsed < 5

        # A slow body that arrives within the timeout is fine, on the same connection
        # as a next request.
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(HEAD % len(body) + body[:10])
            time.sleep(0.4)
            sock.sendall(body[10:])
            sock.sendall(b"GET /sessions/s/memory HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Connection: close\r\n\r\n")
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert answer.count(b"HTTP/1.1 200") == 2 and b'"m1"' in answer
    finally:
        server.stop()
    assert TRACEBACK not in server.output


# -- item 14: SIGTERM while a request waits for the SQLite write lock -----------------------


def post_in_thread(url: str, session: str, result: dict[str, Any]) -> threading.Thread:
    def post() -> None:
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                reply = client.post(path(session), json={"messages": turn(2)})
                result.update(status=reply.status_code, body=reply.text,
                              connection=reply.headers.get("connection"))
        except httpx.HTTPError as exc:
            result["error"] = repr(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_sigterm_answers_503_to_a_request_blocked_on_the_store(tmp_path: Path):
    db = tmp_path / "memory.db"
    server = ServerProcess(f"sqlite:///{db}", extra=["--graceful-seconds", "2"]).start()
    lock = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.post(path("s"), json={"messages": turn(1)}).status_code == 200
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        result: dict[str, Any] = {}
        thread = post_in_thread(server.url, "blocked", result)
        time.sleep(1.0)
        assert not result, result  # still waiting for the lock
        started = time.monotonic()
        code = server.stop(timeout=60)
        elapsed = time.monotonic() - started
        thread.join(timeout=30)
    finally:
        lock.close()
    assert code in (0, -signal.SIGTERM)
    assert result.get("status") == 503, result
    assert json.loads(result["body"]) == {"error": "store unavailable: server shutting down"}
    assert result["connection"] == "close"
    assert elapsed < 10, elapsed  # graceful limit 2 s, not the store's 60 s busy timeout
    assert "CancelledError" not in server.output and TRACEBACK not in server.output


# -- item 5: SIGTERM with a summary call in flight ------------------------------------------


def test_sigterm_with_a_summary_call_in_flight_exits_promptly(tmp_path: Path):
    """The summarizer takes 40 s a call; a client waits for that fold. SIGTERM must end
    the process within a few seconds (the wait answers 503: this server will not finish
    the fold, which stays with its lease), not after the call or the graceful limit."""
    server = ServerProcess(f"sqlite:///{tmp_path / 'memory.db'}", window_size=4,
                           extra=["--summary-delay", "40"]).start()
    waited: dict[str, Any] = {}

    def wait() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            try:
                reply = client.post(path("s", "wait"), params={"timeout": 100})
                waited.update(status=reply.status_code, body=reply.text)
            except httpx.HTTPError as exc:
                waited["error"] = repr(exc)

    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post(path("s"), json={"messages": turn(9)}).status_code == 200
        busy = client.post(path("s", "wait"), params={"timeout": 0.5})
        assert busy.status_code == 504, busy.text  # the fold is running
    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    started = time.monotonic()
    code = server.stop(timeout=60)
    elapsed = time.monotonic() - started
    waiter.join(timeout=60)
    assert code in (0, -signal.SIGTERM), server.output
    assert elapsed < 10, elapsed
    assert waited.get("status") == 503, waited
    assert json.loads(waited["body"]) == {"error": "store unavailable: server shutting down"}


def test_sigterm_while_idle_exits_at_once(tmp_path: Path):
    server = ServerProcess(f"sqlite:///{tmp_path / 'memory.db'}", window_size=4,
                           extra=["--summary-delay", "40"]).start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post(path("s"), json={"messages": turn(9)}).status_code == 200
        assert client.post(path("s", "wait"), params={"timeout": 0.2}).status_code == 504
    started = time.monotonic()
    code = server.stop(timeout=60)
    assert code in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 5


# -- item 4: what a 503 says, and what the log says -----------------------------------------


@pytest.mark.parametrize(("message", "reason"), [
    ("Redis at redis://:***@10.0.0.7:6379/0?password=*** failed: Error 111 connecting to"
     " 10.0.0.7:6379. Connection refused.", "connection refused"),
    ("Redis at redis://10.0.0.7:6379/0?password=*** failed: Timeout reading from socket",
     "timed out"),
    ("SQLite store /srv/data/memory.db: gave up after 60s waiting for the write lock"
     " (queued behind this process's writers)", "timed out"),
    ("SQLite store /srv/data/memory.db is read-only here: attempt to write a readonly"
     " database", "read-only"),
    ("Redis at redis://10.0.0.7:6379/0 failed: READONLY You can't write against a read only"
     " replica.", "read-only"),
    ("SQLite store /srv/data/memory.db failed: the file is damaged or not a database"
     " (database disk image is malformed)", "damaged"),
    ("SQLite store /srv/data/memory.db failed: database or disk is full", "disk full"),
    ("Redis at redis://10.0.0.7:6379/0?password=*** failed: WRONGPASS invalid"
     " username-password pair or user is disabled.", "not authorized"),
    ("Redis at redis://10.0.0.7:6379/0 failed: Connection closed by server.",
     "connection lost"),
    ("SQLite store /srv/data/memory.db is closed", "closed"),
    ("something nobody foresaw at 10.0.0.7", ""),
])
def test_a_503_body_names_the_kind_of_failure_only(message, reason, caplog):
    with TestClient(create_app(FailingMemory(errors.StoreUnavailable(message))),
                    raise_server_exceptions=False) as client:
        reply = client.get("/sessions/x/memory")
    assert reply.status_code == 503
    expected = f"store unavailable: {reason}" if reason else "store unavailable"
    assert reply.json() == {"error": expected}
    assert store_reason(errors.StoreUnavailable(message)) == reason
    assert message in caplog.text  # the whole story goes to the log


def test_the_log_redacts_urls_the_store_left_in_its_message(caplog):
    leaky = errors.StoreUnavailable("upstream redis://:hunter2@10.0.0.7:6379/0?password=hunter2"
                                    " refused the connection (Connection refused)")
    with TestClient(create_app(FailingMemory(leaky)), raise_server_exceptions=False) as client:
        reply = client.post("/sessions/x/memory", json={"messages": turn(1)})
    assert reply.json() == {"error": "store unavailable: connection refused"}
    assert "hunter2" not in caplog.text and "10.0.0.7:6379" in caplog.text

    bug = RuntimeError("cannot use http://admin:hunter2@10.0.0.8/x")
    with TestClient(create_app(FailingMemory(bug)), raise_server_exceptions=False) as client:
        reply = client.get("/sessions/x/window")
    assert reply.status_code == 500 and reply.json() == {"error": "internal error: RuntimeError"}
    assert "hunter2" not in caplog.text and "admin:***@10.0.0.8" in caplog.text
    assert caplog.text.count(TRACEBACK) == 1


SECRET = "T0PSECRET-pw-4711"


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_no_password_or_host_in_503_bodies_or_the_log(tmp_path: Path, form: str):
    """``serve`` (the CLI, logging as deployed) over a Redis with a password, given in the
    URL's userinfo or as ``?password=``; then Redis dies."""
    binary = require_binary("redis-server")
    port = free_port()
    redis_proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", SECRET, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    wait_for_port(port, proc=redis_proc)
    url = (f"redis://:{SECRET}@127.0.0.1:{port}/0" if form == "userinfo"
           else f"redis://127.0.0.1:{port}/0?password={SECRET}")
    bodies: list[str] = []
    server = serve_cli(tmp_path, store=url, extra=["--log-level", "debug", "--access-log"])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.post(path("s"), json={"messages": turn(2)}).status_code == 200
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            for reply in (client.get(path("s")), client.delete(path("s")),
                          client.post(path("s"), json={"messages": turn(1)}),
                          client.get("/sessions"), client.get(path("s", "window"))):
                assert reply.status_code == 503
                bodies.append(reply.text)
                assert reply.json()["error"].startswith("store unavailable")
    finally:
        server.stop()
        if redis_proc.poll() is None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    # A store that cannot be reached at startup: one line naming it, redacted.
    from tests.test_server_cli import cli

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    failed = cli("serve", "--store", url, "--model", "none", env=env)
    assert failed.returncode == 2 and "***" in failed.stderr, failed.stderr
    assert SECRET not in failed.stderr + failed.stdout
    for body in bodies:
        assert SECRET not in body and str(port) not in body and "127.0.0.1" not in body, body
    assert {"error": "store unavailable: connection refused"} in map(json.loads, bodies)
    assert SECRET not in server.output, server.output
    assert "***" in server.output  # the startup line shows the URL, redacted
    assert "store unavailable on GET" in server.output  # the detail is logged...
    assert f"127.0.0.1:{port}" in server.output  # ...with the host, for the operator


def test_body_timeout_must_be_positive(tmp_path: Path):
    from tests.test_server_cli import cli

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    for value in ("0", "-1", "nan"):
        result = cli("serve", "--store", f"sqlite:///{tmp_path}/m.db", "--body-timeout", value,
                     env=env)
        assert result.returncode == 2, result.stderr
        assert "--body-timeout must be a positive" in result.stderr
        assert "Traceback" not in result.stderr
