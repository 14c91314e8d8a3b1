"""The OpenAPI 3 description of every route, served at ``/openapi.json``.

Hand-written (not inferred) so that it states the wire contract exactly,
including upstream's plain-text 400s; schemathesis fuzzes the server with it.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "error")
TEXT_OR_ERROR = {"description": "bad request (plain text for upstream's own messages)",
                 "content": {"application/json": {"schema": _ref("Error")},
                             "text/plain": {"schema": {"type": "string"}}}}
COMMON_ERRORS = {"401": ERROR, "503": ERROR}

SESSION_ID = {"name": "session_id", "in": "path", "required": True,
              "description": "any text, percent-encoded (a '/' inside an id is %2F)",
              "schema": {"type": "string", "minLength": 1}}
NAMESPACE = {"name": "namespace", "in": "query", "required": False,
             "description": "scopes the session listing only", "schema": {"type": "string"}}


def _int_query(name: str, description: str, minimum: int = 1,
               maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


SESSION_IDS = {"name": "id", "in": "query", "required": False, "explode": True,
               "description": "only these sessions (repeat the parameter)",
               "schema": {"type": "array", "items": {"type": "string", "minLength": 1}}}
TIMEOUT = {"name": "timeout", "in": "query", "required": False,
           "schema": {"type": "number", "minimum": 0, "maximum": 600}}


def _op(summary: str, responses: dict[str, Any], parameters: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, additive: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["motorhead-magic extension" if additive else "Motörhead"],
        "parameters": parameters or [],
        "responses": {**responses, **COMMON_ERRORS},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"]["408"] = _json(_ref("Error"), "the body did not arrive in time")
    return op


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Status": {"type": "object", "required": ["status"],
               "properties": {"status": {"type": "string", "enum": ["Ok"]}}},
    "MemoryMessage": {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"type": "string", "minLength": 1}, "content": {"type": "string"},
        "metadata": {"type": ["object", "null"],
                     "description": "extension: stored with the message"}}},
    "Memory": {"type": "object", "required": ["messages", "context", "tokens"], "properties": {
        "messages": {"type": "array", "items": _ref("MemoryMessage"),
                     "description": "the window, newest first"},
        "context": {"type": ["string", "null"]},
        "tokens": {"type": "integer", "description": "LLM tokens spent summarizing"}}},
    "MemoryPost": {"type": "object", "required": ["messages"], "properties": {
        "messages": {"type": "array", "items": _ref("MemoryMessage")},
        "context": {"type": ["string", "null"],
                    "description": "replaces the current summary when not null"}}},
    "StoredMessage": {"type": "object", "required": [
        "session_id", "seq", "role", "content", "tokens", "created_at", "metadata", "summarized"],
        "properties": {
            "session_id": {"type": "string"}, "seq": {"type": "integer"},
            "role": {"type": "string"}, "content": {"type": "string"},
            "tokens": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
            "metadata": {"type": "object"}, "summarized": {"type": "boolean"}}},
    "Summary": {"type": "object", "required": [
        "session_id", "through_seq", "context", "tokens_used", "created_at"], "properties": {
            "session_id": {"type": "string"}, "through_seq": {"type": "integer"},
            "context": {"type": "string"}, "tokens_used": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"}}},
    "Window": {"type": "object",
               "required": ["session_id", "messages", "context", "tokens", "summary"],
               "properties": {
                   "session_id": {"type": "string"},
                   "messages": {"type": "array", "items": _ref("StoredMessage"),
                                "description": "the window, oldest first"},
                   "context": {"type": ["string", "null"]}, "tokens": {"type": "integer"},
                   "summary": {"oneOf": [_ref("Summary"), {"type": "null"}]},
                   "window_size": {"type": "integer"}}},
    "SessionInfo": {"type": "object", "properties": {
        "session_id": {"type": "string"}, "messages": {"type": "integer"},
        "summaries": {"type": "integer"},
        "last_write": {"type": "string", "format": "date-time"},
        "window_tokens": {"type": "integer"},
        "parent": {"type": ["string", "null"], "description": "forked from this session"},
        "forked_at": {"type": ["integer", "null"],
                      "description": "the parent's last message copied into the fork"}}},
    "Hit": {"allOf": [_ref("StoredMessage"), {
        "type": "object", "required": ["score"], "properties": {"score": {
            "type": "number", "description": "higher = closer: BM25 by words, cosine by"
                                             " meaning, the in-context score for hybrid"}}}]},
    "SearchPost": {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string"},
        "k": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
        "mode": {"type": ["string", "null"], "enum": ["keyword", "semantic", "hybrid", None],
                 "description": "null: hybrid when the server has an embedder, else keyword;"
                                " semantic and hybrid need one (--embeddings)"},
        "before": {"type": ["integer", "null"],
                   "description": "only messages with a smaller seq (search(as_of=seq) is"
                                  " before=seq + 1)"}}},
    "SearchResult": {"type": "object", "required": ["hits", "ranking", "note"], "properties": {
        "hits": {"type": "array", "items": _ref("Hit"), "description": "best first"},
        "ranking": {"type": "string", "enum": ["keyword", "semantic", "hybrid"],
                    "description": "the ranking that ordered the hits (keyword when"
                                   " semantic search's embedder failed)"},
        "note": {"type": ["string", "null"],
                 "description": "why the search fell back to words, if it did"}}},
    "Retrieved": {"type": "object", "required": ["role", "content", "dist"], "properties": {
        "role": {"type": "string"}, "content": {"type": "string"},
        "dist": {"type": "number", "description": "cosine distance (1 - cosine) by meaning;"
                                                  " 1 / (1 + BM25) by words"}}},
    "Fork": {"type": "object", "required": ["new_id"], "properties": {
        "new_id": {"type": "string", "minLength": 1},
        "at": {"type": ["integer", "null"], "minimum": 0,
               "description": "the last message to copy (null: all)"}}},
}

MEMORY_PATH = "/sessions/{session_id}/memory"

PATHS: dict[str, Any] = {
    "/": {"get": _op("Health: the server clock", {"200": _json({
        "type": "object", "required": ["now"],
        "properties": {"now": {"type": "integer", "description": "ms since the epoch"}}})})},
    "/sessions": {"get": _op(
        "Session ids by ascending last write; a page past the end is []",
        {"200": _json({"type": "array", "items": {"type": "string"}}), "400": TEXT_OR_ERROR},
        [_int_query("page", "1-based, at most 100", maximum=100),
         _int_query("size", "ids per page"),
         NAMESPACE])},
    MEMORY_PATH: {
        "get": _op("The window (newest first), context and tokens; unknown ids are empty",
                   {"200": _json(_ref("Memory")), "400": ERROR}, [SESSION_ID]),
        "post": _op("Append messages in order; a non-null context replaces the summary",
                    {"200": _json(_ref("Status")), "400": ERROR, "413": ERROR},
                    [SESSION_ID, NAMESPACE], _ref("MemoryPost")),
        "delete": _op("Delete everything of the session (fine for unknown ids)",
                      {"200": _json(_ref("Status")), "400": ERROR}, [SESSION_ID, NAMESPACE]),
    },
    "/sessions/{session_id}/retrieval": {"post": _op(
        "Long-term memory: the session's messages nearest `text`, at most 10, ascending"
        " `dist`; unknown sessions find nothing. Without --long-term-memory: 400 plain text"
        " `Long term memory is disabled`, as upstream by default",
        {"200": _json({"type": "array", "maxItems": 10, "items": _ref("Retrieved")}),
         "400": TEXT_OR_ERROR, "413": ERROR}, [SESSION_ID],
        {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}})},
    "/sessions/{session_id}/search": {"post": _op(
        "Search the session's messages (all of them, folded or not) with scores, best first",
        {"200": _json(_ref("SearchResult")), "400": ERROR, "413": ERROR}, [SESSION_ID],
        _ref("SearchPost"), additive=True)},
    "/sessions/{session_id}/window": {"get": _op(
        "The window oldest first with seq, tokens, timestamps and metadata",
        {"200": _json(_ref("Window")), "400": ERROR}, [SESSION_ID], additive=True)},
    "/sessions/{session_id}/messages": {"get": _op(
        "Full history from seq `cursor`, chronological, paginated",
        {"200": _json({"type": "object", "required": ["messages", "next_cursor"], "properties": {
            "messages": {"type": "array", "items": _ref("StoredMessage")},
            "next_cursor": {"type": ["integer", "null"]}}}), "400": ERROR},
        [SESSION_ID, _int_query("cursor", "first seq to return", minimum=0),
         _int_query("limit", "messages per page", maximum=1000)], additive=True)},
    "/sessions/{session_id}/summaries": {"get": _op(
        "Every summary, oldest first",
        {"200": _json({"type": "object", "required": ["summaries"], "properties": {
            "summaries": {"type": "array", "items": _ref("Summary")}}}), "400": ERROR},
        [SESSION_ID], additive=True)},
    "/sessions/{session_id}/wait": {"post": _op(
        "Block until this server's background work on the session (summaries, embedding)"
        " is done",
        {"200": _json(_ref("Status")), "400": ERROR, "504": ERROR}, [SESSION_ID, TIMEOUT],
        additive=True)},
    "/sessions/{session_id}/fork": {"post": _op(
        "Copy the session up to `at` into a new session, with the summaries that covered it",
        {"200": _json({"type": "object", "required": ["session_id"], "properties": {
            "session_id": {"type": "string"}}}), "400": ERROR, "409": ERROR, "413": ERROR},
        [SESSION_ID], _ref("Fork"), additive=True)},
    "/wait": {"post": _op(
        "Block until all of this server's background work (summaries, embedding) is done",
        {"200": _json(_ref("Status")), "400": ERROR, "504": ERROR}, [TIMEOUT], additive=True)},
    "/session-infos": {"get": _op(
        "Counts of every session (or of the sessions named by `id`), by ascending last write",
        {"200": _json({"type": "object", "required": ["sessions"], "properties": {
            "sessions": {"type": "array", "items": _ref("SessionInfo")}}}), "400": ERROR},
        [SESSION_IDS], additive=True)},
}


def _schemas(semantic: bool) -> dict[str, Any]:
    """The schemas of this server: without an embedder, search takes keyword mode only."""
    if semantic:
        return SCHEMAS
    post = SCHEMAS["SearchPost"]
    mode = {**post["properties"]["mode"], "enum": ["keyword", None],
            "description": "keyword (or null): this server has no embedder"}
    return {**SCHEMAS, "SearchPost": {**post, "properties": {**post["properties"],
                                                             "mode": mode}}}


def openapi_document(*, semantic: bool = True) -> dict[str, Any]:
    """The description of a server with (``semantic``) or without an embedder."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Motörhead-compatible memory server (motorhead-magic)",
                 "version": __version__,
                 "description": "The Motörhead HTTP API plus additive routes for history,"
                                " summaries, waits, forks and search. With an API key"
                                " configured, every request needs x-metal-api-key or"
                                " Authorization: Bearer."},
        "paths": PATHS,
        "components": {"schemas": _schemas(semantic)},
    }
