"""Every environment variable this package reads, read here and nowhere else; the
default store's place; and URL helpers every layer needs (``redact`` for display).

Each function reads the environment when called (not at import), so a notebook
that sets ``os.environ[...]`` before a use sees its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from .errors import InvalidInput

DEFAULT_WINDOW_SIZE = 12
DEFAULT_PORT = 8080
REDIS_SCHEMES = ("redis", "rediss", "unix")


def _env(name: str) -> str | None:
    """The variable's value, or None when unset or empty."""
    return os.environ.get(name) or None


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, got {raw!r}") from None


# -- the memory --------------------------------------------------------------------------


def default_store_path() -> Path:
    """The embedded store shared by every kernel and server of this user."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "motorhead_magic" / "memory.db"


def data_dir() -> Path:
    """Where this package keeps its own files (the store, the local-model verdicts)."""
    return default_store_path().parent


def default_url() -> str:
    """``MOTORHEAD_URL``, else the embedded store."""
    return _env("MOTORHEAD_URL") or f"sqlite://{default_store_path().as_posix()}"


def default_window_size() -> int:
    """``MOTORHEAD_MAX_WINDOW_SIZE`` (upstream's name), else 12."""
    return _env_int("MOTORHEAD_MAX_WINDOW_SIZE", DEFAULT_WINDOW_SIZE)


# -- chat models --------------------------------------------------------------------------


def model_from_env() -> str | None:
    """``MOTORHEAD_MODEL``: the chat model of notebooks, the summary model of servers."""
    return _env("MOTORHEAD_MODEL")


def openai_key_set() -> bool:
    """Whether ``OPENAI_API_KEY`` is set (the key itself is left to the OpenAI client)."""
    return _env("OPENAI_API_KEY") is not None


def openai_base_url() -> str | None:
    """``OPENAI_BASE_URL`` or ``OPENAI_API_BASE``: any OpenAI-compatible server."""
    return _env("OPENAI_BASE_URL") or _env("OPENAI_API_BASE")


def notebook_path() -> str | None:
    """The notebook a kernel runs for (``JPY_SESSION_NAME``, set by Jupyter Server)."""
    return _env("JPY_SESSION_NAME")


# -- the server ---------------------------------------------------------------------------


def server_store_url() -> str:
    """``REDIS_URL`` (upstream's name) selects Redis; else ``MOTORHEAD_URL``; else embedded."""
    return _env("REDIS_URL") or default_url()


def server_port() -> int:
    return _env_int("PORT", DEFAULT_PORT)


def server_api_key() -> str | None:
    return _env("MOTORHEAD_API_KEY")


TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def long_term_memory_from_env() -> bool | None:
    """``MOTORHEAD_LONG_TERM_MEMORY`` (upstream's name): true/1/yes/on or false/0/no/off,
    any case; None when unset or empty. Any other value is refused (upstream would
    quietly read it as false)."""
    raw = _env("MOTORHEAD_LONG_TERM_MEMORY")
    if raw is None:
        return None
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidInput(f"MOTORHEAD_LONG_TERM_MEMORY must be true or false (also 1/0, yes/no,"
                       f" on/off), got {raw!r}")


def server_embeddings() -> str | None:
    """``MOTORHEAD_EMBEDDINGS``: the server's embedder (local, openai:MODEL or none)."""
    return _env("MOTORHEAD_EMBEDDINGS")


# -- URLs ---------------------------------------------------------------------------------


def is_redis_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in REDIS_SCHEMES


SECRET_PARAMETERS = ("password", "passwd", "pwd", "pass", "token", "api_key", "apikey", "key",
                     "secret")


def redact(url: str) -> str:
    """The URL without its secrets, for anything shown, logged or sent: the password of
    its userinfo (``redis://:pw@host``, ``http://user:pw@host``) and query parameters
    that carry one (``redis://host?password=pw``, a form redis-py accepts)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    query = "&".join(
        f"{name}=***" if name.lower() in SECRET_PARAMETERS else pair
        for pair in parts.query.split("&") if pair
        for name in [pair.split("=", 1)[0]]
    )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return parts._replace(netloc=netloc, query=query).geturl()
