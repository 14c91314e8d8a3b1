"""Long-term memory inside the stores: an older SQLite file gains its word index when
opened, a read-only one still opens, and the Redis word cache stays true to the log
(writes from another process, a session deleted and written again, eviction)."""

from __future__ import annotations

import sqlite3

import pytest

import motorhead_magic as mh
from motorhead_magic.stores import words
from tests.test_store_hardening import unwritable


def said(*texts: str) -> list[dict]:
    return [{"role": "Human", "content": t} for t in texts]


def make_older(path) -> None:
    """Drop what search added to the schema: the store of the previous release."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE message_words")
    conn.execute("DROP TABLE vectors")
    conn.commit()
    conn.close()


def test_an_older_store_is_indexed_once_when_opened_for_writing(tmp_path):
    path = tmp_path / "m.db"
    with mh.connect(f"sqlite://{path}") as memory:
        memory.add("a", said("the harbour at dawn", "grey gulls"))
        memory.add("b", said("harbour fees"))
    make_older(path)
    with mh.connect(f"sqlite://{path}") as memory:
        assert [h.message.seq for h in memory.search("a", "harbour")] == [0]
        assert [h.message.content for h in memory.search("b", "harbour")] == ["harbour fees"]
    with mh.connect(f"sqlite://{path}") as memory:  # not indexed twice
        count = sqlite3.connect(path).execute("SELECT COUNT(*) FROM message_words").fetchone()
        assert count == (3,)


def test_an_older_read_only_store_opens_and_finds_nothing(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "m.db"
    with mh.connect(f"sqlite://{path}") as memory:
        memory.add("s", said("lighthouse keeper"))
    make_older(path)
    for extra in folder.glob("m.db-*"):
        extra.unlink()
    with unwritable(path, folder):
        memory = mh.connect(f"sqlite://{path}")
        assert [m.content for m in memory.history("s")] == ["lighthouse keeper"]
        assert memory.search("s", "lighthouse") == []
        memory.close()


def test_redis_word_cache_follows_writes_of_another_process(redis_url):
    reader, writer = mh.connect(redis_url), mh.connect(redis_url)
    writer.add("s", said("first note about kiwis"))
    assert [h.message.seq for h in reader.search("s", "kiwis")] == [0]
    writer.add("s", said("second note about kiwis"))
    assert sorted(h.message.seq for h in reader.search("s", "kiwis")) == [0, 1]
    writer.delete("s")
    writer.add("s", said("mangoes only"))  # a new life of the same id, same length
    assert reader.search("s", "kiwis") == []
    assert [h.message.content for h in reader.search("s", "mangoes")] == ["mangoes only"]
    reader.close()
    writer.close()


def test_word_cache_drops_the_least_recently_searched_session():
    logs = {"a": ["apple pie"] * 3, "b": ["banana bread"] * 3, "c": ["cherry tart"] * 3}

    def load(session_id: str, start: int):
        rows = logs.get(session_id)
        return (None, []) if rows is None else ("e" + session_id,
                                                list(enumerate(rows))[start:])

    cache = words.WordCache(load, max_rows=6)
    assert len(cache.search("a", "apple", 10)) == 3
    assert len(cache.search("b", "banana", 10)) == 3
    assert len(cache.search("c", "cherry", 10)) == 3  # 9 rows > 6: "a" is dropped
    assert list(cache._known) == ["b", "c"]
    assert len(cache.search("a", "apple", 10)) == 3  # read again when searched again
    cache.close()


@pytest.mark.parametrize("text", ['"', "NEAR(", "a AND", "*", "scope:x", "ünïcödé 🙂", ""])
def test_match_expression_quotes_every_word(text):
    expression = words.match_expression("abc", text)
    conn = sqlite3.connect(":memory:")
    conn.executescript(words.SCHEMA)
    if expression is None:
        assert not words.query_terms(text)
    else:  # FTS5 accepts it as a query: no syntax error whatever the text held
        conn.execute("SELECT * FROM message_words WHERE message_words MATCH ?", (expression,))


def test_stopwords_leave_a_query_unless_it_has_nothing_else():
    assert words.query_terms("Where did I park the CAR?") == ["park", "car"]
    assert words.query_terms("who was it?") == ["who", "was", "it"]
    assert len(words.query_terms(" ".join(f"w{i}" for i in range(500)))) == words.MAX_TERMS


def test_a_stopword_alone_does_not_make_a_message_match(tmp_path):
    with mh.connect(f"sqlite://{tmp_path / 'm.db'}") as memory:
        memory.add("s", said("I am allergic to peanuts", "the car is on level 3"))
        assert [h.message.seq for h in memory.search("s", "where is the car?")] == [1]


def test_cached_vectors_grow_in_place_and_a_snapshot_stays_whole():
    import numpy as np

    from motorhead_magic.memory.search import DimensionChanged, _Vectors

    def rows(start: int, n: int, dim: int = 4) -> list:
        return [(seq, "m", np.full(dim, seq, dtype=np.float32).tobytes())
                for seq in range(start, start + n)]

    vectors = _Vectors("e")
    assert vectors.snapshot() == (None, None) and vectors.next_seq == 0
    vectors.append(rows(0, 3))
    seqs, matrix = vectors.snapshot()
    for start in range(3, 1000, 50):  # past the first capacity: the arrays grow
        vectors.append(rows(start, 50))
    assert seqs.tolist() == [0, 1, 2] and matrix[:, 0].tolist() == [0, 1, 2]  # untouched
    seqs, matrix = vectors.snapshot()
    assert len(seqs) == len(matrix) == vectors.count == 1003 and vectors.next_seq == 1003
    assert matrix[:, 0].tolist() == seqs.tolist() == list(range(1003))
    with pytest.raises(DimensionChanged, match="8-dimensional.*4-dimensional"):
        vectors.append(rows(1003, 1, dim=8))
