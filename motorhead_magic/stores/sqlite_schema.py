"""The embedded store's schema, and how an older file is brought up to it.

A store written by an older release opens as it is: opened for writing it gains the
columns of :data:`MIGRATIONS` and the search tables (its messages indexed once);
opened read-only, temporary views and empty tables stand in for them, so every read
works and a search finds nothing.
"""

from __future__ import annotations

import sqlite3
from functools import cache

from . import words

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id    TEXT PRIMARY KEY,
    epoch         TEXT NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT -1,
    through_seq   INTEGER NOT NULL DEFAULT -1,
    summary_count INTEGER NOT NULL DEFAULT 0,
    tokens_used   INTEGER NOT NULL DEFAULT 0,
    context       TEXT,
    write_order   INTEGER NOT NULL,
    last_write    INTEGER NOT NULL,
    parent        TEXT,
    forked_at     INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_by_write ON sessions (write_order);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS summaries (
    session_id  TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    through_seq INTEGER NOT NULL,
    context     TEXT NOT NULL,
    tokens_used INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    usage       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS namespaces (
    namespace   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    write_order INTEGER NOT NULL,
    PRIMARY KEY (namespace, session_id)
);
CREATE TABLE IF NOT EXISTS leases (
    session_id TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

# Search (issue 13): the word index and the embeddings, added to older stores when
# opened for writing (:func:`add_search`), empty stand-ins when opened read-only.
VECTORS = """
CREATE TABLE IF NOT EXISTS vectors (
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    model      TEXT NOT NULL,
    vector     BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
);
"""

MESSAGE_COLUMNS = "session_id, seq, role, content, tokens, created_at, metadata"
SUMMARY_COLUMNS = "session_id, through_seq, context, tokens_used, created_at, usage"
# Columns added after the first release: an older store gains them when opened for writing.
MIGRATIONS = (
    ("sessions", "parent", "TEXT"),
    ("sessions", "forked_at", "INTEGER"),
    ("summaries", "usage", "TEXT NOT NULL DEFAULT '{}'"),
)


@cache
def schema_columns() -> dict[str, frozenset[str]]:
    """Each table of :data:`SCHEMA` and its columns (read from a scratch database)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({t})"))
                for t in tables}
    finally:
        conn.close()


def legacy_views(conn: sqlite3.Connection) -> list[str]:
    """For an older store opened read-only (so :func:`migrate` cannot run): temporary
    views, found before the tables of the same name, that add the columns of
    :data:`MIGRATIONS` it lacks with their default values."""
    views = []
    for table in dict.fromkeys(t for t, _, _ in MIGRATIONS):
        have = {r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")}
        added = [f"{kind.split('DEFAULT', 1)[1].strip() if 'DEFAULT' in kind else 'NULL'}"
                 f" AS {column}" for t, column, kind in MIGRATIONS
                 if t == table and column not in have]
        if have and added:
            views.append(f"CREATE TEMP VIEW {table} AS SELECT *, {', '.join(added)}"
                         f" FROM main.{table}")
    return views


def search_views(conn: sqlite3.Connection) -> list[str]:
    """Empty temporary tables for a read-only store older than search (nothing found)."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    views = []
    if "message_words" not in have:
        views.append(words.SCHEMA.replace("message_words", "temp.message_words"))
    if "vectors" not in have:
        views.append(VECTORS.replace("TABLE IF NOT EXISTS", "TEMP TABLE IF NOT EXISTS"))
    return views


def add_search(conn: sqlite3.Connection) -> None:
    """Create the word index and the vectors table; a store older than them gets its
    messages indexed once, in one transaction (another process may race us here)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        fresh = not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'message_words'"
                                 ).fetchone()
        for statement in (words.SCHEMA, VECTORS):
            conn.execute(statement)
        if fresh:
            conn.execute("INSERT INTO message_words (content, scope, session_id, seq)"
                         " SELECT m.content, ? || s.epoch, m.session_id, m.seq"
                         " FROM messages m JOIN sessions s USING (session_id)",
                         (words.SCOPE_PREFIX,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns of :data:`MIGRATIONS` that an older store lacks."""
    for table, column, kind in MIGRATIONS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if have and column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
