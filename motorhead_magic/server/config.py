"""Server settings from flags and upstream's environment names (flags win).

| setting | flag | environment | default |
|---|---|---|---|
| host | ``--host`` | | 127.0.0.1 (loopback only) |
| port | ``--port`` | ``PORT`` | 8080 |
| store | ``--store`` | ``REDIS_URL``, then ``MOTORHEAD_URL`` | the embedded SQLite store |
| window | ``--window-size`` | ``MOTORHEAD_MAX_WINDOW_SIZE`` | 12 |
| summary model | ``--model`` | ``MOTORHEAD_MODEL``; with ``OPENAI_API_KEY`` gpt-4o-mini | none |
| API key | ``--api-key`` | ``MOTORHEAD_API_KEY`` | none (no auth) |
| long-term memory | ``--[no-]long-term-memory`` | ``MOTORHEAD_LONG_TERM_MEMORY`` | off |
| embedder | ``--embeddings`` | ``MOTORHEAD_EMBEDDINGS`` | local with long-term memory, else none |

Long-term memory turns on upstream's ``POST /sessions/{id}/retrieval``; the embedder
(``local``: the offline MiniLM; ``openai:MODEL``; ``none``: words only) also serves
semantic and hybrid search on the additive ``/sessions/{id}/search``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import settings as env
from ..errors import InvalidInput

NO_MODEL = "none"
NO_EMBEDDINGS = "none"
LOCAL_EMBEDDINGS = "local"
OPENAI_PREFIX = "openai:"


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    store_url: str
    window_size: int
    model: str  # "none", "local" or an OpenAI model name
    api_key: str | None
    long_term_memory: bool = False
    embeddings: str = NO_EMBEDDINGS  # "none", "local" or "openai:MODEL"

    def describe(self) -> str:
        """One line for the console; never shows the API key or a store password."""
        auth = "API key required" if self.api_key else "no API key"
        if not self.long_term_memory:
            recall = "long-term memory off"
        elif self.embeddings == NO_EMBEDDINGS:
            recall = "long-term memory on, by words (no embeddings)"
        else:
            recall = f"long-term memory on, embeddings {self.embeddings}"
        return (f"motorhead-magic serving {env.redact(self.store_url)} on http://{self.host}:"
                f"{self.port} (window {self.window_size}, summary model {self.model},"
                f" {recall}, {auth})")


def model_from_env() -> str:
    """``MOTORHEAD_MODEL``; else gpt-4o-mini when ``OPENAI_API_KEY`` is set; else none."""
    from ..chat.models import DEFAULT_OPENAI_MODEL

    default = DEFAULT_OPENAI_MODEL if env.openai_key_set() else NO_MODEL
    return env.model_from_env() or default


def check_embeddings(spec: str) -> str:
    """``local``, ``none`` (any case) or ``openai:MODEL``, normalized; else InvalidInput."""
    word = spec.strip()
    if word.lower() in (LOCAL_EMBEDDINGS, NO_EMBEDDINGS):
        return word.lower()
    if word.lower().startswith(OPENAI_PREFIX) and word[len(OPENAI_PREFIX):].strip():
        return OPENAI_PREFIX + word[len(OPENAI_PREFIX):].strip()
    raise InvalidInput(f"embeddings must be local, openai:MODEL (e.g."
                       f" openai:text-embedding-3-small) or none, got {spec!r}")


def long_term_settings(long_term_memory: bool | None = None,
                       embeddings: str | None = None) -> tuple[bool, str]:
    """(on, embedder) from the flags (None when not given), else the environment.

    On: the embedder defaults to ``local``. Off: there is none, and naming one is an
    error rather than a setting that would quietly do nothing."""
    on = env.long_term_memory_from_env() if long_term_memory is None else long_term_memory
    spec = embeddings if embeddings is not None else env.server_embeddings()
    if not on:
        if spec is not None and check_embeddings(spec) != NO_EMBEDDINGS:
            raise InvalidInput(f"embeddings {spec.strip()} are used by long-term memory, which"
                               " is off: add --long-term-memory (or"
                               " MOTORHEAD_LONG_TERM_MEMORY=true)")
        return False, NO_EMBEDDINGS
    return True, check_embeddings(spec) if spec is not None else LOCAL_EMBEDDINGS


def settings(host: str | None = None, port: int | None = None, store: str | None = None,
             window_size: int | None = None, model: str | None = None,
             api_key: str | None = None, long_term_memory: bool | None = None,
             embeddings: str | None = None) -> ServerSettings:
    """Flags (None when not given) completed from the environment, then checked."""
    store_url = store or env.server_store_url()
    if urlsplit(store_url).scheme.lower() in ("http", "https"):
        raise InvalidInput(
            f"the server's store must be sqlite:///path.db or redis://..., not {store_url!r}"
            " (MOTORHEAD_URL points at a server? pass --store)"
        )
    port = env.server_port() if port is None else port
    if not 0 <= port <= 65535:
        raise InvalidInput(f"port must be between 0 and 65535, got {port}")
    window = env.default_window_size() if window_size is None else window_size
    if window < 1:
        raise InvalidInput(f"window size must be a positive integer, got {window}")
    on, embedder = long_term_settings(long_term_memory, embeddings)
    return ServerSettings(
        host=host or "127.0.0.1",
        port=port,
        store_url=store_url,
        window_size=window,
        model=(model or model_from_env()).strip() or NO_MODEL,
        api_key=api_key or env.server_api_key(),
        long_term_memory=on,
        embeddings=embedder,
    )


def summarizer_for(name: str) -> Any:
    """The summarizer of ``--model`` (with a prompt that model can follow: the local
    135M model gets a plain one), or None for ``none``."""
    if name.lower() == NO_MODEL:
        return None
    from ..chat.models import resolve_summarizer

    return resolve_summarizer(name, temperature=0.0)


def embedder_for(spec: str) -> Any:
    """What ``connect(..., embeddings=)`` takes for a checked ``--embeddings``: None for
    ``none``, ``"local"`` (the memory loads the offline model), or an
    ``OpenAIEmbeddings`` for ``openai:MODEL`` (it needs OPENAI_API_KEY or a base URL)."""
    spec = check_embeddings(spec)
    if spec == NO_EMBEDDINGS:
        return None
    if spec == LOCAL_EMBEDDINGS:
        return LOCAL_EMBEDDINGS
    from ..chat.models import openai_embeddings

    return openai_embeddings(spec[len(OPENAI_PREFIX):])
