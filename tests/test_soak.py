"""Soak: ``motorhead-magic serve`` over SQLite under a low descriptor limit, in bursts of
concurrent clients separated by pauses longer than the server's idle thread retirement
(anyio retires a worker thread idle for 10 s, so each burst runs on new threads). Zero
errors, and a flat descriptor count: a store that kept one connection per thread that
ever touched it grew by two descriptors per new thread and ran out of them (issue 11,
item 1: 6 bursts took the server from 10 to 485 descriptors; under 256, bursts 3-5
failed)."""

from __future__ import annotations

import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for_port
from tests.serve_fake import REPO

pytestmark = pytest.mark.slow

BURSTS = 4
CLIENTS = 40
PAUSE = 10.5  # > anyio's WorkerThread.MAX_IDLE_TIME (10 s)
NOFILE = 256
CONTENT = "x" * 2000


def low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> set[int]:
    return {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}


def client(port: int, session: str, errors: list[str], start: threading.Barrier) -> None:
    """One new connection: POST a batch, then GET the window and the log back (the log
    read runs on a worker thread: the POST's write and the window read hold none)."""
    start.wait()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        messages = [{"role": "Human" if i % 2 == 0 else "AI", "content": f"{i} {CONTENT}"}
                    for i in range(20)]
        conn.request("POST", f"/sessions/{session}/memory",
                     body=json.dumps({"messages": messages}),
                     headers={"content-type": "application/json"})
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            errors.append(f"POST {session}: {reply.status} {body[:200]!r}")
            return
        conn.request("GET", f"/sessions/{session}/memory")
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            errors.append(f"GET {session}: {reply.status} {body[:200]!r}")
        elif len(json.loads(body)["messages"]) != 8:  # the window
            errors.append(f"GET {session}: {body[:200]!r}")
        conn.request("GET", f"/sessions/{session}/messages")
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200 or len(json.loads(body)["messages"]) != 20:
            errors.append(f"GET {session}/messages: {reply.status} {body[:200]!r}")
    except (OSError, http.client.HTTPException) as exc:
        errors.append(f"{session}: {exc!r}")
    finally:
        conn.close()


def burst(port: int, index: int, errors: list[str]) -> None:
    start = threading.Barrier(CLIENTS)
    workers = [threading.Thread(target=client, args=(port, f"b{index}-{k}", errors, start))
               for k in range(CLIENTS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def settled_descriptors(pid: int) -> int:
    """The count once the burst's connections have closed (the smallest of a few looks)."""
    counts = []
    for _ in range(5):
        time.sleep(0.1)
        counts.append(descriptors(pid))
    return min(counts)


def test_bursts_and_pauses_keep_descriptors_flat_with_zero_errors(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "MOTORHEAD_MODEL": "", "OPENAI_API_KEY": "", "REDIS_URL": "",
           "MOTORHEAD_URL": "", "MOTORHEAD_API_KEY": "",
           "JUPYTER_DATA_DIR": str(tmp_path / "jupyter")}
    log = tempfile.TemporaryFile("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "motorhead_magic", "serve", "--model", "none",
         "--port", str(port), "--store", f"sqlite:///{tmp_path / 'soak.db'}",
         "--window-size", "8", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        preexec_fn=low_descriptor_limit)
    errors: list[str] = []
    fds: list[int] = []
    tids: list[set[int]] = []
    try:
        wait_for_port(port, proc=server)
        for index in range(BURSTS):
            if index:
                time.sleep(PAUSE)
            burst(port, index, errors)
            assert server.poll() is None, "the server died"
            fds.append(settled_descriptors(server.pid))
            tids.append(threads(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.seek(0)
        output = log.read()
        log.close()
    assert not errors, (errors[:10], output[-3000:])
    # The pauses retired the worker threads: each burst ran on (mostly) new ones.
    for before, after in zip(tids, tids[1:]):
        assert len(after - before) >= 10, (before, after)
    assert fds[-1] <= fds[0] + 8, fds
    assert "Too many open files" not in output and "Traceback" not in output, output[-3000:]
