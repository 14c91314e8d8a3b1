"""Bring conversations in: an upstream Motörhead deployment's Redis (analyse it, or
migrate it into a store), and a messages DataFrame. Both write through the Memory
protocol only, so they work into any backend.

Upstream's layout (MOTORHEAD-API.md): ``session:{id}`` is a list of
``"{role}: {content}"`` strings, newest at index 0; ``context:{id}`` the
summary; ``tokens:{id}`` the summarization tokens spent; ``sessions`` and
``sessions:{ns}`` sorted sets scored by last-write Unix seconds. Releases
before v2.0.0 used the bare id for the list and ``{id}_context`` /
``{id}_tokens``. Entries are split on their FIRST ``": "`` (contents may hold
more); an entry without one keeps its whole text with the role ``Unknown``.
Upstream kept no per-message times, so ``created_at`` is NaT in frames and the
import time in a store. Nothing in the source is modified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, StoreUnavailable
from .memory import Memory, connect
from .memory.tokens import count_tokens
from .settings import default_url, is_redis_url, redact
from .stores.base import EXPORT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

UNKNOWN_ROLE = "Unknown"
OUR_PREFIX = "mhm"  # our RedisStore's default key prefix: never read as upstream data


@dataclass
class UpstreamSession:
    """One upstream session: messages chronological, as ``(role, content)``."""

    session_id: str
    messages: list[tuple[str, str]] = field(default_factory=list)
    context: str | None = None
    tokens: int = 0
    last_write: datetime | None = None
    namespaces: list[str] = field(default_factory=list)
    layout: str = "v2"  # "v2" (session:{id}) or "v1" (pre-v2: the bare id)


def parse_entry(entry: str) -> tuple[str, str]:
    """``"Human: hi: there"`` -> ``("Human", "hi: there")``."""
    role, sep, content = entry.partition(": ")
    if not sep or not role:
        return UNKNOWN_ROLE, entry
    return role, content


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _int(value: bytes | str | None) -> int:
    try:
        return int(_text(value) or 0)
    except ValueError:
        return 0


def _client(redis_url: str) -> Any:
    if not is_redis_url(redis_url):
        raise InvalidInput(f"the upstream source must be a redis:// URL, got {redis_url!r}")
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StoreUnavailable(f"cannot reach upstream Redis {redact(redis_url)}: {exc}") from exc
    return client


def _scan(client: Any, pattern: str = "*", kind: str | None = None) -> Iterable[str]:
    for key in client.scan_iter(match=pattern, count=1000, _type=kind):
        yield _text(key)  # type: ignore[misc]


def read_sessions(redis_url: str, *, skip_prefixes: Iterable[str] = (f"{OUR_PREFIX}:",)
                  ) -> list[UpstreamSession]:
    """Every upstream session (both layouts), by ascending last write (unknown last)."""
    client = _client(redis_url)
    skip = tuple(skip_prefixes)
    found: dict[str, UpstreamSession] = {}

    def session(sid: str, layout: str) -> UpstreamSession:
        if sid not in found:
            found[sid] = UpstreamSession(sid, layout=layout)
        return found[sid]

    def load(sid: str, layout: str, list_key: str, context_key: str, tokens_key: str) -> None:
        item = session(sid, layout)
        entries = [_text(e) or "" for e in client.lrange(list_key, 0, -1)]
        # v1 data predates v2, so a session present in both reads v1 first.
        older = [parse_entry(e) for e in reversed(entries)]
        item.messages = older + item.messages if layout == "v1" else item.messages + older
        context = _text(client.get(context_key))
        if context is not None and (layout == "v2" or item.context is None):
            item.context = context
        item.tokens += _int(client.get(tokens_key))

    for key in _scan(client, "session:*"):
        if not key.startswith(skip):
            load(key[len("session:"):], "v2", key, f"context:{key[8:]}", f"tokens:{key[8:]}")
    for key in _scan(client, "context:*", "string"):
        sid = key[len("context:"):]
        if not key.startswith(skip) and sid not in found:
            load(sid, "v2", f"session:{sid}", key, f"tokens:{sid}")
    for key in _scan(client, "*", "list"):
        if not key.startswith(("session:", *skip)):
            load(key, "v1", key, f"{key}_context", f"{key}_tokens")
    for key in _scan(client, "*_context", "string"):
        sid = key[: -len("_context")]
        if not key.startswith(("context:", *skip)) and not client.exists(sid):
            load(sid, "v1", sid, key, f"{sid}_tokens")

    for key in _scan(client, "sessions*", "zset"):
        if key != "sessions" and not key.startswith("sessions:"):
            continue
        namespace = key[len("sessions:"):] if key != "sessions" else None
        for member, score in client.zrange(key, 0, -1, withscores=True):
            item = found.get(_text(member) or "")
            if item is None:
                continue
            stamp = datetime.fromtimestamp(score, tz=timezone.utc)
            if item.last_write is None or stamp > item.last_write:
                item.last_write = stamp
            if namespace is not None and namespace not in item.namespaces:
                item.namespaces.append(namespace)
    client.close()
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(found.values(), key=lambda s: (s.last_write or far, s.session_id))


def read_frame(redis_url: str) -> pd.DataFrame:
    """Upstream's messages as a DataFrame with the messages schema (DESIGN.md section 6);
    ``metadata`` holds the session's upstream ``context``, ``tokens`` and ``layout``."""
    from .memory.frames import messages_frame

    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    for item in read_sessions(redis_url):
        meta = {"upstream_context": item.context, "upstream_tokens": item.tokens,
                "layout": item.layout}
        for seq, (role, content) in enumerate(item.messages):
            for name, value in (("session_id", item.session_id), ("seq", seq), ("role", role),
                                ("content", content), ("tokens", count_tokens(content)),
                                ("created_at", None), ("summarized", False),
                                ("metadata", dict(meta))):
                columns[name].append(value)
    return messages_frame(columns)


@dataclass
class ImportReport:
    target: str
    sessions: int = 0
    messages: int = 0
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        line = (f"imported {self.sessions} session(s), {self.messages} message(s) into"
                f" {self.target}")
        if self.skipped:
            shown = ", ".join(repr(s) for s in self.skipped[:10])
            more = f" and {len(self.skipped) - 10} more" if len(self.skipped) > 10 else ""
            line += f"; skipped {len(self.skipped)} already there: {shown}{more}"
        return line


def _by_namespace(messages: list[dict[str, str]], namespaces: list[str]
                  ) -> list[tuple[str | None, list[dict[str, str]]]]:
    """Our stores record a namespace per write, as upstream did per POST: a session listed
    under k namespaces is written in k consecutive parts (fewer if it has fewer messages)."""
    if not namespaces:
        return [(None, messages)]
    parts = max(1, min(len(namespaces), len(messages)))
    size, extra = divmod(len(messages), parts)
    result, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        result.append((namespaces[index], messages[start:end]))
        start = end
    return result


WRITE_BATCH = 1000  # messages per POST to a remote server (its body limit is 2 MiB)


def _write(memory: Memory, item: UpstreamSession) -> None:
    """One session, chronologically, then upstream's context as the current summary with
    the tokens upstream spent on it (where the backend can record them)."""
    messages = [{"role": r, "content": c} for r, c in item.messages]
    for namespace, part in _by_namespace(messages, sorted(item.namespaces)):
        for start in range(0, len(part), WRITE_BATCH):
            memory.add(item.session_id, part[start:start + WRITE_BATCH], namespace=namespace)
    if item.context is not None:
        memory.import_context(item.session_id, item.context, item.tokens)


def import_into(source: str, target: str | None = None, *,
                prefix: str | None = None) -> ImportReport:
    """Copy every upstream session of ``source`` into ``target`` (a store or server URL,
    default the embedded store); sessions already in the target are skipped."""
    target = target or default_url()
    options: dict[str, Any] = {}
    if prefix is not None:
        if not is_redis_url(target):
            raise InvalidInput("--prefix applies to a Redis target only")
        options["prefix"] = prefix
    skip = {f"{OUR_PREFIX}:", f"{prefix or OUR_PREFIX}:"}
    items = read_sessions(source, skip_prefixes=skip)
    memory = connect(target, **options)
    report = ImportReport(redact(target))
    try:
        existing = set(memory.sessions())
        for item in items:
            if item.session_id in existing:
                report.skipped.append(item.session_id)
                continue
            if not item.messages and item.context is None:
                continue
            _write(memory, item)
            report.sessions += 1
            report.messages += len(item.messages)
    finally:
        memory.close()
    return report


def import_frame(memory: Memory, df: pd.DataFrame, session_id: str) -> int:
    """Add the messages of ``df`` (a messages DataFrame, e.g. from ``to_dataframe``) to
    the new session ``session_id``, in one ``memory.add`` call, so either every row is
    stored or none. Returns how many messages were added.

    Kept: role, content, metadata and order. New: seq, tokens and created_at (a store
    assigns them) and the summary (a summarizer folds the session again).
    """
    from .memory.frames import frame_messages

    messages = frame_messages(df)
    if memory.history(session_id, 0, 1):
        raise InvalidInput(f"session {session_id!r} already has messages; import into a new"
                           " session id (or delete it first)")
    if messages:
        memory.add(session_id, messages)
    return len(messages)
