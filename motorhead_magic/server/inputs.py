"""Reading requests: bounded JSON bodies, typed query values, session ids from the path.

Each helper raises :class:`~.errors.ApiError` (or, for query integers, the
:class:`~motorhead_magic.errors.InvalidInput` of the shared parser) with a message that
names the problem, so the route functions stay a few lines of calls into the Memory.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from ..params import bounded_int
from ..records import MAX_BODY_BYTES
from .errors import ApiError


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # json.loads makes one per call


async def read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The body as JSON: ``application/json`` only, at most ``max_bytes`` (else 413)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(400, f"Content-Type must be application/json, got {media_type or 'none'!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"body of {declared} bytes exceeds the limit of {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"body exceeds the limit of {max_bytes} bytes")
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"body is not UTF-8: {exc.reason}") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None


def memory_body(body: Any) -> tuple[list[Any], str | None]:
    """``{"messages": [...], "context": str | null}`` -> (messages, context)."""
    if not isinstance(body, dict):
        raise ApiError(400, f"body must be a JSON object, got {type(body).__name__}")
    if "messages" not in body:
        raise ApiError(400, "missing field `messages`")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise ApiError(400, f"`messages` must be an array, got {type(messages).__name__}")
    for index, message in enumerate(messages):
        if isinstance(message, dict) and not isinstance(message.get("metadata", {}),
                                                        (dict, type(None))):
            raise ApiError(400, f"message {index}: 'metadata' must be an object or null")
    context = body.get("context")
    if context is not None and not isinstance(context, str):
        raise ApiError(400, f"`context` must be a string or null, got {type(context).__name__}")
    return messages, context


def _whole(value: Any) -> Any:
    """JSON's ``5.0`` is the integer 5 (some clients write every number as a float)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def retrieval_text(body: Any) -> str:
    """Upstream's retrieval body ``{"text": str}`` -> the text."""
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ApiError(400, "body must be a JSON object with a string `text`")
    return body["text"]


def search_body(body: Any) -> tuple[Any, Any, Any, Any]:
    """``{"text": str, "k": int = 10, "mode": str | null, "before": int | null}`` ->
    (text, k, mode, before); their values are checked by the memory (``check_search``)."""
    text = retrieval_text(body)
    return text, _whole(body.get("k", 10)), body.get("mode"), _whole(body.get("before"))


def query_int(request: Request, name: str, default: int, minimum: int = 1,
              maximum: int | None = None) -> int:
    """The query value ``name`` as an integer in bounds (the parser the sidebar API uses too)."""
    return bounded_int(name, request.query_params.get(name), default, minimum, maximum)


def query_float(request: Request, name: str, default: float, maximum: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"query parameter `{name}` must be a number, got {raw!r}") from None
    if not 0 <= value <= maximum:
        raise ApiError(400, f"query parameter `{name}` must be between 0 and {maximum}")
    return value


def namespace(request: Request) -> str | None:
    return request.query_params.get("namespace") or None


def session_id(request: Request) -> str:
    """The id from the path, percent-decoded once (so ``%2F`` is a ``/`` inside the id)."""
    value = request.path_params["session_id"]
    if not value:
        raise ApiError(400, "session id must be a non-empty string")
    return value
