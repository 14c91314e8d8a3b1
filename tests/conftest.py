"""Shared fixtures: real Redis, free ports, one memory factory per backend.

The conformance suite asks ``memory_factory`` for a Memory and never knows
which backend it got; every backend in ``BACKENDS`` runs the same tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import motorhead_magic as mh
from tests.fakes import make_summarizer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed (.ci/run must install it)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port; yields its base URL (no db)."""
    binary = require_binary("redis-server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A freshly emptied Redis database for one test."""
    import redis

    url = f"{redis_server}/0"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'memory.db'}"


MemoryFactory = Callable[..., mh.Memory]

# Backends the conformance suite runs against ("remote": our server as a real process
# over a fresh SQLite store, reached with RemoteMemory).
BACKENDS = ["sqlite", "redis", "remote"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def memory_factory(backend: str, request: pytest.FixtureRequest) -> Iterator[MemoryFactory]:
    """``memory_factory(window_size=4, summarizer="echo")``: a Memory on this test's backend.

    ``summarizer`` is a name from :func:`tests.fakes.make_summarizer` so that a server in
    another process can build the same fake. Every memory made shares one store.
    """
    if backend == "remote":
        yield from _remote_factory(request.getfixturevalue("sqlite_url"))
        return
    url = request.getfixturevalue(f"{backend}_url")
    opened: list[mh.Memory] = []

    def factory(window_size: int = 4, summarizer: str | None = None, **options) -> mh.Memory:
        memory = mh.connect(url, window_size=window_size,
                            summarizer=make_summarizer(summarizer), **options)
        opened.append(memory)
        return memory

    yield factory
    for memory in opened:
        memory.close()


def _remote_factory(store_url: str) -> Iterator[MemoryFactory]:
    """One server process per (window, summarizer, embedder), all over this test's one
    store. The server embeds: a test's ``embeddings=WordEmbeddings()`` (and
    ``embed_timeout``) become a server started with ``--embeddings words`` (the same
    deterministic embedder, built in that process)."""
    from tests.fakes import WordEmbeddings
    from tests.serve_fake import ServerProcess

    servers: dict[tuple, ServerProcess] = {}
    opened: list[mh.Memory] = []

    def factory(window_size: int = 4, summarizer: str | None = None, **options) -> mh.Memory:
        embeddings = options.pop("embeddings", None)
        embed_timeout = options.pop("embed_timeout", None)
        extra: list[str] = []
        if embeddings is not None:
            assert isinstance(embeddings, WordEmbeddings) and embeddings.dimension == 64, (
                "a remote server builds tests.fakes.make_embeddings('words') itself")
            extra += ["--long-term-memory", "--embeddings", "words"]
        if embed_timeout is not None:
            extra += ["--embed-timeout", str(embed_timeout)]
        key = (window_size, summarizer, *extra)
        if key not in servers:
            servers[key] = ServerProcess(store_url, window_size=window_size,
                                         summarizer=summarizer, extra=extra)
            servers[key].start()
        options.pop("lease_seconds", None)  # the server's engine owns folding
        memory = mh.connect(servers[key].url, window_size=window_size, timeout=60, **options)
        opened.append(memory)
        return memory

    try:
        yield factory
    finally:
        for memory in opened:
            memory.close()
        for server in servers.values():
            server.stop()


@pytest.fixture
def panels() -> Iterator[Callable[..., Any]]:
    """``panels(memory, ...)``: memory panels that re-render at once, closed after the test."""
    from motorhead_magic.notebook.panel import Panel

    opened: list[Panel] = []

    def make(*args: Any, **kwargs: Any) -> Panel:
        kwargs.setdefault("min_interval", 0)
        panel = Panel(*args, **kwargs)
        opened.append(panel)
        return panel

    yield make
    for panel in opened:
        panel.close()
