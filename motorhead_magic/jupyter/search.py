"""The sidebar's search: sessions by name and by what their messages say.

Search is per session (DESIGN.md section 3), so finding sessions by content is a
loop of ``memory.search`` over the store's sessions, bounded: the most recently
written :data:`SCAN_SESSIONS` sessions, newest first, within :data:`SCAN_SECONDS`
(at least one session is always searched), and stopped early when the browser
goes away. The answer says how many sessions were searched and whether the scan
was cut short (``truncated``). The loop runs on one worker thread per request,
calling the synchronous ``search`` (about 40 µs a session on SQLite, against
250 µs through ``asearch``, whose cost is one thread hop per session), so the
server's event loop never blocks and 10,000 sessions cost well under a second.

One list, each session once: sessions whose **id** contains the query (as the
list route matches, case-insensitive) come first, newest write first, exactly as
the plain list shows them; then sessions found only by their **messages**, best
first by their best hit's score. Why names first: a name is what the user chose
for a session, so typing part of it is the strongest sign of which session is
meant, and the paged list keeps its order as the user types; BM25 scores order
the content matches among themselves, where they are comparable. A session
matched by both keeps its name's place and shows its matching lines as well.

Each result carries up to :data:`HITS_PER_SESSION` matching lines, each cut to
about :data:`SNIPPET_CHARS` characters around its first matched word, with the
matched words as ``marks`` (``[start, end)`` offsets in Unicode code points of the
shortened ``content``). The matched words are found by SQLite FTS5's own
``highlight()`` over the same tokenizer as the store's word index (stemming and
diacritics included), so what is marked is what matched, never a guess.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread

from ..memory import Memory
from ..records import Hit
from ..stores.words import Marks, highlight, query_terms

HITS_PER_SESSION = 3
SNIPPET_CHARS = 200
SCAN_SESSIONS = 10_000  # the most recently written sessions whose messages are searched
SCAN_SECONDS = 2.0  # and at most this long per request
ELLIPSIS = "…"


@dataclass
class Scan:
    """What one bounded loop over sessions found."""

    hits: dict[str, list[Hit]] = field(default_factory=dict)
    searched: int = 0


def scan_sessions(memory: Memory, ids: Sequence[str], text: str, k: int, seconds: float,
                  stop: threading.Event | None = None) -> Scan:
    """``memory.search(id, text, k)`` for each id in order until ``seconds`` are spent or
    ``stop`` is set (blocking: run it on a worker thread). At least one id is searched."""
    scan = Scan()
    deadline = time.monotonic() + seconds
    for session_id in ids:
        if scan.searched and (time.monotonic() > deadline or (stop and stop.is_set())):
            break
        hits = memory.search(session_id, text, k)
        scan.searched += 1
        if hits:
            scan.hits[session_id] = hits
    return scan


def snippet(content: str, marks: Marks, width: int = SNIPPET_CHARS) -> tuple[str, Marks]:
    """``content`` cut to about ``width`` characters around its first mark (at spaces
    where one is near, so words stay whole), with ``…`` where it was cut, and the marks
    moved with it (a mark cut by the end is cut too)."""
    if len(content) <= width:
        return content, marks
    first, first_end = marks[0] if marks else (0, 0)
    start = max(0, min(first - width // 4, len(content) - width))
    if start > 0:
        space = content.find(" ", start, min(first, start + 30))
        if space != -1:
            start = space + 1
    end = min(len(content), start + width)
    if end < len(content):
        space = content.rfind(" ", max(first_end, end - 30), end)
        if space > start:
            end = space
    head = ELLIPSIS if start > 0 else ""
    shift = start - len(head)
    moved = [(max(s, start) - shift, min(e, end) - shift) for s, e in marks
             if s < end and e > start]
    return head + content[start:end] + (ELLIPSIS if end < len(content) else ""), moved


def hit_dict(hit: Hit, marks: Marks) -> dict[str, Any]:
    content, spans = snippet(hit.message.content, marks)
    return {
        "seq": hit.message.seq,
        "role": hit.message.role,
        "content": content,
        "marks": [list(span) for span in spans],
        "score": hit.score,
        "created_at": hit.message.created_at.isoformat(),
        "summarized": hit.message.summarized,
    }


async def search_sessions(memory: Memory, query: str, page: int, size: int,
                          stop: threading.Event | None = None,
                          limiter: Any = None) -> dict[str, Any]:
    """One page of sessions matching ``query`` by id or by message content (see the
    module's doc for the order), with the list route's paging fields, plus ``searched``
    (sessions whose messages were searched), ``session_count`` (sessions in the store),
    ``truncated`` (some sessions' messages were not searched), ``id_matches`` and
    ``content_matches``; ``words``, the query's words as the word index takes them (none:
    messages are not searched). An empty query matches nothing."""
    query = query.strip()
    ids = await memory.asessions() if query else []  # ascending last write
    newest_first = ids[::-1]
    needle = query.casefold()
    by_id = [i for i in newest_first if needle in i.casefold()] if query else []
    to_scan = newest_first[:SCAN_SESSIONS] if query_terms(query) else []
    scan = Scan()
    if to_scan:
        scan = await to_thread.run_sync(scan_sessions, memory, to_scan, query,
                                        HITS_PER_SESSION, SCAN_SECONDS, stop, limiter=limiter)
    named = set(by_id)
    recency = {sid: n for n, sid in enumerate(newest_first)}
    by_content = sorted((sid for sid in scan.hits if sid not in named),
                        key=lambda sid: (-scan.hits[sid][0].score, recency[sid]))
    ordered = by_id + by_content
    total = len(ordered)
    chunk = ordered[(page - 1) * size:page * size]
    infos = {i.session_id: i for i in await memory.asession_infos(chunk)} if chunk else {}
    chunk = [sid for sid in chunk if sid in infos]  # deleted meanwhile: skipped
    page_hits = [hit for sid in chunk for hit in scan.hits.get(sid, [])]
    marks = (await to_thread.run_sync(highlight, [h.message.content for h in page_hits], query,
                                      limiter=limiter) if page_hits else [])
    shaped = iter([hit_dict(hit, m) for hit, m in zip(page_hits, marks)])
    sessions = []
    for sid in chunk:
        hits = scan.hits.get(sid, [])
        sessions.append({
            **infos[sid].to_dict(),
            "id_match": sid in named,
            "score": hits[0].score if hits else None,
            "hits": [next(shaped) for _ in hits],
        })
    return {
        "sessions": sessions,
        "total": total,
        "page": page,
        "size": size,
        "pages": max(1, -(-total // size)),
        "query": query,
        "id_matches": len(by_id),
        "content_matches": len(scan.hits),
        "searched": scan.searched,
        "session_count": len(ids),
        "truncated": bool(to_scan) and scan.searched < len(ids),
        "words": query_terms(query),
    }
