"""``motorhead-magic serve`` itself (``python -m motorhead_magic serve``): flags, upstream's
environment names, the API key, loopback by default, and a clean SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

import motorhead_magic as mh
from tests.serve_fake import REPO, ServerProcess
from tests.test_server import path, turn


def serve(tmp: Path, *, api_key: str | None = None, **kwargs) -> ServerProcess:
    kwargs.setdefault("store", f"sqlite:///{tmp / 'memory.db'}")
    env = {"MOTORHEAD_MODEL": "", "OPENAI_API_KEY": "", "REDIS_URL": "", "MOTORHEAD_URL": "",
           "MOTORHEAD_API_KEY": "", "JUPYTER_DATA_DIR": str(tmp / "jupyter"),
           **kwargs.pop("env", {})}
    return ServerProcess(cli=True, api_key=api_key, env=env, **kwargs).start()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motorhead_magic", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env)


def test_serves_on_loopback_with_flags(tmp_path):
    server = serve(tmp_path, window_size=3)
    try:
        with httpx.Client(base_url=server.url) as client:
            client.post(path("s"), json={"messages": turn(5)})
            assert len(client.get(path("s")).json()["messages"]) == 3
    finally:
        server.stop()
    assert f"on http://127.0.0.1:{server.port}" in server.output
    assert "summary model none" in server.output


def test_upstream_environment_names(tmp_path, redis_url):
    from tests.conftest import free_port

    port = free_port()
    server = serve(tmp_path, store=None, window_size=None, pass_port=False, port=port,
                   env={"PORT": str(port), "REDIS_URL": redis_url,
                        "MOTORHEAD_MAX_WINDOW_SIZE": "2"})
    try:
        with httpx.Client(base_url=server.url) as client:
            client.post(path("s"), json={"messages": turn(5)})
            assert len(client.get(path("s")).json()["messages"]) == 2
    finally:
        server.stop()
    memory = mh.connect(redis_url)  # REDIS_URL selected the Redis store
    assert [m.content for m in memory.history("s")] == [f"m{i}" for i in range(5)]
    memory.close()


def test_api_key_is_required_when_set_and_never_printed(tmp_path):
    key = "s3cret-key-value"
    server = serve(tmp_path, api_key=key)
    try:
        with httpx.Client(base_url=server.url) as client:
            for headers in ({}, {"x-metal-api-key": "wrong"}, {"authorization": "Bearer nope"},
                            {"authorization": key}):
                reply = client.get(path("s"), headers=headers)
                assert reply.status_code == 401 and "API key" in reply.json()["error"]
            assert client.get(path("s"), headers={"x-metal-api-key": key}).status_code == 200
            assert client.get("/", headers={"authorization": f"Bearer {key}"}).status_code == 200
        good = mh.connect(server.url, api_key=key)
        good.add("s", turn(2))
        assert len(good.get("s").messages) == 2
        good.close()
        anonymous = mh.connect(server.url)
        with pytest.raises(mh.MotorheadError, match="401"):
            anonymous.get("s")
        anonymous.close()
    finally:
        server.stop()
    assert key not in server.output and "API key required" in server.output


def test_sigterm_finishes_requests_and_writes_no_half_turn(tmp_path):
    store = f"sqlite:///{tmp_path / 'memory.db'}"
    server = serve(tmp_path, store=store)
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for t in range(100_000):
                if stop.is_set():
                    return
                try:
                    reply = client.post(path("turns"), json={"messages": [
                        {"role": "Human", "content": f"q{t}"},
                        {"role": "AI", "content": f"a{t}" + "x" * 50_000}]})
                except httpx.HTTPError:
                    return
                if reply.status_code == 200:
                    acknowledged.append(t)

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acknowledged) < 20:
        assert thread.is_alive()
        stop.wait(0.05)
    code = server.stop()
    stop.set()
    thread.join()
    assert code in (0, -15), server.output
    memory = mh.connect(store)
    history = memory.history("turns")
    memory.close()
    assert len(history) % 2 == 0
    pairs = [(history[i].content, history[i + 1].content[: len(history[i].content)])
             for i in range(0, len(history), 2)]
    assert all(q[1:] == a[1:] for q, a in pairs)
    stored = [int(q[1:]) for q, _ in pairs]
    assert stored == list(range(len(stored)))
    assert set(acknowledged) <= set(stored)


def test_bad_configuration_is_one_line_and_exit_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    result = cli("serve", "--store", "http://127.0.0.1:1", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()] and "sqlite:///path.db or redis://" in result.stderr
    result = cli("serve", "--store", f"sqlite:///{tmp_path}/m.db", "--model", "gpt-4o-mini",
                 env=env)
    assert result.returncode == 2 and "OPENAI_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_summarizer_for_picks_a_prompt_the_model_can_follow(monkeypatch):
    from motorhead_magic.chat.local import LOCAL_SUMMARY_PROMPT
    from motorhead_magic.memory.summarizer import DEFAULT_SUMMARY_PROMPT
    from motorhead_magic.server.config import summarizer_for
    from tests.magics.conftest import require_local_model

    assert summarizer_for("none") is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    assert summarizer_for("gpt-4o-mini").prompt == DEFAULT_SUMMARY_PROMPT
    require_local_model()
    assert summarizer_for("local").prompt == LOCAL_SUMMARY_PROMPT
