"""Query-string values, parsed once for every HTTP face (the server and the sidebar API).

A leaf module (no imports from the package but ``errors``), so that both faces can use
it without importing each other. Errors are :class:`~motorhead_magic.errors.InvalidInput`,
which every face answers with 400.
"""

from __future__ import annotations

from typing import TypeVar

from .errors import InvalidInput

T = TypeVar("T", int, None)


def bounded_int(name: str, raw: str | None, default: T, minimum: int = 1,
                maximum: int | None = None) -> int | T:
    """``raw`` (the query value, None when absent) as an integer in ``[minimum, maximum]``;
    ``default`` when absent. Anything else is an :class:`InvalidInput` naming the bound."""
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidInput(f"query parameter `{name}` must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"query parameter `{name}` must be {bound}, got {value}")
    return value
