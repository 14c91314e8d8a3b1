"""Server settings from flags and upstream's environment names (flags win).

| setting | flag | environment | default |
|---|---|---|---|
| host | ``--host`` | | 127.0.0.1 (loopback only) |
| port | ``--port`` | ``PORT`` | 8080 |
| store | ``--store`` | ``REDIS_URL``, then ``MOTORHEAD_URL`` | the embedded SQLite store |
| window | ``--window-size`` | ``MOTORHEAD_MAX_WINDOW_SIZE`` | 12 |
| summary model | ``--model`` | ``MOTORHEAD_MODEL``; with ``OPENAI_API_KEY`` gpt-4o-mini | none |
| API key | ``--api-key`` | ``MOTORHEAD_API_KEY`` | none (no auth) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import settings as env
from ..errors import InvalidInput

NO_MODEL = "none"


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    store_url: str
    window_size: int
    model: str  # "none", "local" or an OpenAI model name
    api_key: str | None

    def describe(self) -> str:
        """One line for the console; never shows the API key or a store password."""
        auth = "API key required" if self.api_key else "no API key"
        return (f"motorhead-magic serving {env.redact(self.store_url)} on http://{self.host}:"
                f"{self.port} (window {self.window_size}, summary model {self.model}, {auth})")


def model_from_env() -> str:
    """``MOTORHEAD_MODEL``; else gpt-4o-mini when ``OPENAI_API_KEY`` is set; else none."""
    from ..chat.models import DEFAULT_OPENAI_MODEL

    default = DEFAULT_OPENAI_MODEL if env.openai_key_set() else NO_MODEL
    return env.model_from_env() or default


def settings(host: str | None = None, port: int | None = None, store: str | None = None,
             window_size: int | None = None, model: str | None = None,
             api_key: str | None = None) -> ServerSettings:
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
    return ServerSettings(
        host=host or "127.0.0.1",
        port=port,
        store_url=store_url,
        window_size=window,
        model=(model or model_from_env()).strip() or NO_MODEL,
        api_key=api_key or env.server_api_key(),
    )


def summarizer_for(name: str) -> Any:
    """The summarizer of ``--model`` (with a prompt that model can follow: the local
    135M model gets a plain one), or None for ``none``."""
    if name.lower() == NO_MODEL:
        return None
    from ..chat.models import resolve_summarizer

    return resolve_summarizer(name, temperature=0.0)
