"""Keyword search: SQLite FTS5 with BM25, the one word index of every store.

The embedded store keeps it in its own file (``message_words``, written in the
same transaction as the messages). Redis has no usable full-text index here
(Debian's RediSearch 1.2 predates vectors and ships no module for Redis 7), so
the Redis store keeps the same table in an in-memory SQLite database per
process, fed from its append-only log (:class:`WordCache`): the same tokenizer
and the same BM25 on both backends, and nothing added to Redis's write path.

Any user text is safe: it is split into words here and each word is quoted, so
FTS5's query language (``AND``, ``NEAR``, ``*``, ``"``, ``col:``) is never parsed
from user input. Rows carry a scope token made from the session's epoch, so a
search touches only its session (and a session deleted and written again starts
an empty index), and the session id is compared exactly as well.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

TOKENIZER = "porter unicode61 remove_diacritics 2"  # stems, folds accents
SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS message_words USING fts5(
    content, scope, session_id UNINDEXED, seq UNINDEXED,
    tokenize = '{TOKENIZER}'
);
"""
SCOPE_PREFIX = "s"  # + the session's epoch (hex): one token per life of a session
MAX_TERMS = 64  # the first distinct words of a query (a 100 KB query stays cheap)
WORD = re.compile(r"[^\W_]+")


# Words that match nearly every message of a chat: in a query they only add noise
# (BM25 gives them little weight, but OR-ed in they still bring in any message).
STOPWORDS = frozenset("""
a about after again all am an and any are as at be been before being but by can could
did do does doing for from had has have having he her here hers him his how i if in into
is it its just me more most my no nor not of off on once only or other our ours out over
own same she should so some such than that the their them then there these they this
those through to too under until up very was we were what when where which while who
whom why will with would you your yours s t d ll m re ve don didn doesn isn wasn
""".split())


def query_terms(text: str) -> list[str]:
    """The distinct words of ``text``, lowercased, in order, at most :data:`MAX_TERMS`;
    without stopwords, unless the query has nothing else ("who was it?")."""
    terms: dict[str, None] = {}
    for match in WORD.finditer(text):
        terms.setdefault(match.group().lower(), None)
        if len(terms) >= 4 * MAX_TERMS:
            break
    words = [t for t in terms if t not in STOPWORDS] or list(terms)
    return words[:MAX_TERMS]


def scope_token(epoch: str) -> str:
    """The token that ties a row to one life of one session (epochs are hex)."""
    return SCOPE_PREFIX + epoch


def match_expression(epoch: str, text: str) -> str | None:
    """An FTS5 query for any of the words of ``text`` within the session; None when the
    text has no words. Words are quoted, so nothing of the text is query syntax."""
    terms = query_terms(text)
    if not terms:
        return None
    return f'scope : "{scope_token(epoch)}" AND content : ({any_of(terms)})'


def any_of(terms: list[str]) -> str:
    """An FTS5 query for any of ``terms``, each quoted: never query syntax."""
    return " OR ".join(f'"{term}"' for term in terms)


def insert(conn: sqlite3.Connection, epoch: str, session_id: str,
           rows: Iterable[tuple[int, str]]) -> None:
    """Index ``(seq, content)`` rows of a session (inside the caller's transaction)."""
    scope = scope_token(epoch)
    conn.executemany(
        "INSERT INTO message_words (content, scope, session_id, seq) VALUES (?, ?, ?, ?)",
        [(content, scope, session_id, seq) for seq, content in rows])


def drop(conn: sqlite3.Connection, epoch: str) -> None:
    """Remove every row of one life of a session."""
    conn.execute("DELETE FROM message_words WHERE message_words MATCH ?",
                 (f'scope : "{scope_token(epoch)}"',))


def search(conn: sqlite3.Connection, epoch: str, session_id: str, text: str, limit: int,
           before: int | None = None) -> list[tuple[int, float]]:
    """``(seq, score)`` of the best ``limit`` rows, BM25 (higher = better), newer first
    at equal scores."""
    expression = match_expression(epoch, text)
    if expression is None or limit <= 0:
        return []
    # bm25() weights follow the column order: only the content counts, not the scope.
    # At equal scores the newer message ranks first (the newest statement must win; the
    # distractors of a fact often score exactly as the fact does).
    rows = conn.execute(
        "SELECT seq, -bm25(message_words, 1.0, 0.0) FROM message_words"
        " WHERE message_words MATCH ? AND session_id = ? AND seq < ?"
        " ORDER BY bm25(message_words, 1.0, 0.0), CAST(seq AS INTEGER) DESC LIMIT ?",
        (expression, session_id, 2**63 - 1 if before is None else before, limit),
    ).fetchall()
    return [(int(seq), float(score)) for seq, score in rows]


Marks = list[tuple[int, int]]  # [start, end) spans, in code points


def _markers(texts: Sequence[str]) -> tuple[str, str]:
    """Two private-use characters that occur in none of ``texts``."""
    used = set().union(*map(set, texts)) if texts else set()
    free = (c for c in map(chr, range(0xE000, 0xF900)) if c not in used)
    return next(free), next(free)


def _parse(marked: str, start: str, end: str, original: str) -> Marks:
    """The ``[start, end)`` spans of ``original`` that ``marked`` wraps in the markers."""
    spans: Marks = []
    plain: list[str] = []
    pos = 0
    opened: int | None = None
    for char in marked:
        if char == start:
            opened = pos
        elif char == end and opened is not None:
            if pos > opened:
                spans.append((opened, pos))
            opened = None
        else:
            plain.append(char)
            pos += 1
    return spans if "".join(plain) == original else []  # anything odd: no marks


def highlight(texts: Sequence[str], text: str) -> list[Marks]:
    """For each of ``texts``, the spans of the words that ``text``'s words match, as the
    word index matches them (one in-memory FTS5 table, the same tokenizer): what a
    search result marks is what matched, never a guess."""
    found: list[Marks] = [[] for _ in texts]
    terms = query_terms(text)
    if not terms or not texts:
        return found
    start, end = _markers(texts)
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(content, tokenize = '{TOKENIZER}')")
        conn.executemany("INSERT INTO t (rowid, content) VALUES (?, ?)", enumerate(texts))
        for rowid, marked in conn.execute("SELECT rowid, highlight(t, 0, ?, ?) FROM t"
                                          " WHERE t MATCH ?", (start, end, any_of(terms))):
            found[rowid] = _parse(marked, start, end, texts[rowid])
    finally:
        conn.close()
    return found


Loader = Callable[[str, int], tuple[str | None, list[tuple[int, str]]]]


class WordCache:
    """The word index of a store without one (Redis), in process memory.

    ``load(session_id, start)`` returns the session's epoch (None: no session) and its
    ``(seq, content)`` from ``start`` on. The log is append-only, so each search reads
    only what was written since the last one; a new epoch (deleted, written again)
    starts the session's index afresh. Sessions least recently searched are dropped
    past ``max_rows`` rows in all.
    """

    def __init__(self, load: Loader, max_rows: int = 500_000) -> None:
        self._load = load
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.executescript(SCHEMA)
        self._known: OrderedDict[str, tuple[str, int]] = OrderedDict()  # epoch, next seq
        self._rows = 0

    def search(self, session_id: str, text: str, limit: int,
               before: int | None = None) -> list[tuple[int, float]]:
        with self._lock:
            epoch = self._refresh(session_id)
            if epoch is None:
                return []
            return search(self._conn, epoch, session_id, text, limit, before)

    def _refresh(self, session_id: str) -> str | None:
        epoch, start = self._known.get(session_id, (None, 0))
        fresh, rows = self._load(session_id, start)
        if fresh is not None and fresh != epoch and start:  # a new life: read it all
            fresh, rows = self._load(session_id, 0)
            start = 0
        if fresh != epoch:
            self._forget(session_id)
        if fresh is None:
            return None
        insert(self._conn, fresh, session_id, rows)
        self._known[session_id] = (fresh, start + len(rows))
        self._known.move_to_end(session_id)
        self._rows += len(rows)
        while self._rows > self._max_rows and len(self._known) > 1:
            self._forget(next(iter(self._known)))
        return fresh

    def _forget(self, session_id: str) -> None:
        known = self._known.pop(session_id, None)
        if known is not None:
            drop(self._conn, known[0])
            self._rows -= known[1]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
