"""Long-term memory (DESIGN.md section 3): search on every backend.

Keyword search (BM25) runs everywhere; semantic and hybrid search use
``tests.fakes.WordEmbeddings`` (hashed words plus a few synonyms), so that a
message sharing no word with the query is found only by meaning.
"""

from __future__ import annotations

import pytest

import motorhead_magic as mh
from tests.fakes import WordEmbeddings

FACTS = [
    "My dog is called Rex and he loves the beach",
    "The stock market fell sharply today",
    "I parked the car on Elm Street",
    "Remind me to buy oat milk",
    "My sister's cat sleeps all day",
    "We planned a trip to Lisbon in May",
]


def said(*texts: str) -> list[dict]:
    return [{"role": "Human" if i % 2 == 0 else "AI", "content": t}
            for i, t in enumerate(texts)]


def seqs(hits: list[mh.Hit]) -> list[int]:
    return [h.message.seq for h in hits]


def test_keyword_search_finds_the_message_with_the_words_best_first(memory_factory):
    memory = memory_factory()
    memory.add("s", said(*FACTS))
    hits = memory.search("s", "where did I park the car?", k=3)
    assert hits and hits[0].message.content == FACTS[2]
    assert hits[0].message.session_id == "s" and hits[0].message.seq == 2
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert len(memory.search("s", "dog beach cat", k=1)) == 1


def test_search_is_per_session_and_an_unknown_session_finds_nothing(memory_factory):
    memory = memory_factory()
    memory.add("a", said("the secret word is marmalade"))
    memory.add("b", said("nothing to see here"))
    assert memory.search("b", "marmalade") == []
    assert memory.search("nobody", "marmalade") == []
    assert seqs(memory.search("a", "marmalade")) == [0]


@pytest.mark.parametrize("query", [
    'marmalade" OR "x', "marmalade NEAR(secret, 5)", "marm*", "content: marmalade",
    "scope : s", "session_id:a", "(((", '"', "*", "-marmalade", "marmalade AND NOT x",
    "^marmalade", "💥 marmalade ü", "\x00marmalade",
])
def test_hostile_queries_and_ids_never_leak_or_fail(memory_factory, query):
    memory = memory_factory()
    hostile = ['a" OR 1=1 --', "a*", "NEAR(a)", "a:b", "ü🙂", "a' ; DROP TABLE messages; --"]
    for sid in hostile:
        memory.add(sid, said(f"the secret of {sid} is marmalade"))
    memory.add("plain", said("marmalade for breakfast"))
    for sid in hostile + ["plain"]:
        for hit in memory.search(sid, query, k=20):
            assert hit.message.session_id == sid
    assert memory.search("none", query) == []


def test_bad_search_input_is_refused_with_a_clear_error(memory_factory):
    memory = memory_factory()
    memory.add("s", said("hello there"))
    for k in (0, -1, 10**9, 2.5, True, "3"):
        with pytest.raises(mh.InvalidInput, match="k must be"):
            memory.search("s", "hello", k=k)
    with pytest.raises(mh.InvalidInput, match="search text"):
        memory.search("s", None)
    with pytest.raises(mh.InvalidInput, match="mode"):
        memory.search("s", "hello", mode="fuzzy")
    with pytest.raises(mh.InvalidInput, match="session id"):
        memory.search("", "hello")
    assert memory.search("s", "") == [] and memory.search("s", "   ?! ") == []


def test_a_huge_query_still_works(memory_factory):
    memory = memory_factory()
    memory.add("s", said("the answer is forty-two"))
    query = ("lorem ipsum dolor " * 6000) + " forty-two"  # ~100 KB
    assert isinstance(memory.search("s", query), list)
    assert seqs(memory.search("s", "answer " + query)) == [0]


def test_search_sees_folded_messages_and_keeps_working_after_writes(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", said(*FACTS))
    memory.add("s", said(*[f"filler message {i}" for i in range(10)]))
    memory.wait("s")
    assert memory.get("s").context is not None  # the facts left the window
    hits = memory.search("s", "Lisbon trip", k=2)
    assert hits[0].message.content == FACTS[5] and hits[0].message.summarized
    memory.add("s", said("Lisbon was lovely"))
    assert {h.message.content for h in memory.search("s", "Lisbon", k=5)} == {
        FACTS[5], "Lisbon was lovely"}


def test_at_equal_scores_the_newer_message_ranks_first(memory_factory):
    memory = memory_factory()
    memory.add("s", said("apples one", "apples two", "apples six"))
    assert seqs(memory.search("s", "apples", mode="keyword")) == [2, 1, 0]


def test_a_repeated_message_is_one_hit_and_the_newest_copy(memory_factory):
    memory = memory_factory()
    repeated = ["the boat leaves at nine", "ok"] * 30  # 60 copies: more than one pool
    memory.add("s", said(*repeated, "the boat was late yesterday", "sorry"))
    hits = memory.search("s", "boat leaves", k=2, mode="keyword")
    assert [(h.message.seq, h.message.content) for h in hits] == [
        (58, "the boat leaves at nine"), (60, "the boat was late yesterday")]


def test_before_keeps_only_earlier_messages(memory_factory):
    memory = memory_factory()
    memory.add("s", said("apples one", "apples two", "apples three"))
    assert sorted(seqs(memory.search("s", "apples", before=2))) == [0, 1]


def test_delete_removes_the_index_and_a_new_life_starts_empty(memory_factory):
    memory = memory_factory()
    memory.add("s", said("zebra crossing"))
    assert memory.search("s", "zebra")
    memory.delete("s")
    assert memory.search("s", "zebra") == []
    memory.add("s", said("giraffe"))
    assert memory.search("s", "zebra") == []
    assert seqs(memory.search("s", "giraffe")) == [0]


def test_a_fork_finds_what_it_copied_and_nothing_after(memory_factory):
    memory = memory_factory()
    memory.add("s", said("alpha fact", "beta fact", "gamma fact"))
    memory.fork("s", "f", at=1)
    assert sorted(seqs(memory.search("f", "fact"))) == [0, 1]
    memory.add("f", said("delta fact"))
    assert sorted(seqs(memory.search("f", "fact"))) == [0, 1, 2]
    assert sorted(seqs(memory.search("s", "fact"))) == [0, 1, 2]
    assert memory.search("f", "gamma") == []


def test_hits_frame_has_the_section_6_schema(memory_factory):
    memory = memory_factory()
    memory.add("s", said("blue whale facts", "red panda"))
    frame = memory.search_dataframe("s", "whale")
    assert list(frame.columns) == ["session_id", "seq", "role", "content", "score",
                                   "created_at", "metadata"]
    assert str(frame["score"].dtype) == "float64" and frame["seq"].tolist() == [0]
    empty = memory.search_dataframe("s", "nothing-matches-this")
    assert list(empty.columns) == list(frame.columns) and len(empty) == 0


# -- meaning (an embedder) on the local stores ---------------------------------------------


@pytest.fixture
def semantic_factory(memory_factory):
    """``memory_factory``; on remote, ``embeddings=WordEmbeddings()`` starts a server with
    ``--embeddings words`` (the same embedder, built in the server's process)."""
    return memory_factory


@pytest.fixture
def embedder_in_this_process(backend):
    if backend == "remote":
        pytest.skip("the test watches or changes the embedder object, which is in the server")


in_process_embedder = pytest.mark.usefixtures("embedder_in_this_process")


def test_semantic_search_finds_a_message_that_shares_no_word(semantic_factory):
    embedder = WordEmbeddings()
    memory = semantic_factory(embeddings=embedder)
    memory.add("s", said(*FACTS))
    memory.wait("s")
    assert memory.search("s", "puppy", mode="keyword") == []
    hits = memory.search("s", "puppy", k=1, mode="semantic")
    assert hits[0].message.content == FACTS[0]
    query, fact = embedder.embed_query("puppy"), embedder.embed_query(FACTS[0])
    cosine = sum(a * b for a, b in zip(query, fact)) / (
        sum(a * a for a in query) ** 0.5 * sum(b * b for b in fact) ** 0.5)
    assert hits[0].score == pytest.approx(cosine, rel=1e-5)
    assert memory.search("s", "puppy", k=1)[0].message.content == FACTS[0]  # hybrid default


def test_hybrid_fuses_both_rankings(semantic_factory):
    memory = semantic_factory(embeddings=WordEmbeddings())
    memory.add("s", said("a pet needs walks", "dog food brands", "weather report"))
    memory.wait("s")
    keyword = seqs(memory.search("s", "dog", mode="keyword"))
    semantic = seqs(memory.search("s", "dog", mode="semantic"))
    hybrid = seqs(memory.search("s", "dog", mode="hybrid"))
    assert keyword == [1] and set(semantic[:2]) == {0, 1}
    assert set(hybrid[:2]) == {0, 1} and hybrid[0] == 1  # in both rankings: first


def test_meaning_and_fusion_show_a_repeated_message_once(semantic_factory):
    memory = semantic_factory(embeddings=WordEmbeddings())
    memory.add("s", said(*["my puppy chewed a shoe", "oh no"] * 3, "a dog barked", "hm"))
    memory.wait("s")
    hits = memory.search("s", "puppy", k=2, mode="semantic")
    assert sorted(h.message.seq for h in hits) == [4, 6]  # not [0, 6]
    hits = memory.search("s", "puppy", k=3, mode="hybrid")  # a reply ranks in its context
    assert 4 in seqs(hits) and not {0, 2} & set(seqs(hits))


@in_process_embedder  # counts, toggles or resizes the embedder object
def test_embedding_runs_in_the_background_and_wait_covers_it(semantic_factory):
    embedder = WordEmbeddings(hang=0.3)
    memory = semantic_factory(embeddings=embedder)
    memory.add("s", said("a pet needs walks"))
    assert embedder.documents == 0  # add() did not embed
    memory.wait("s")
    assert embedder.documents == 1
    memory.add("s", said("my puppy"))
    memory.wait("s")
    assert embedder.documents == 2  # only the new message


@in_process_embedder  # counts, toggles or resizes the embedder object
def test_a_failing_embedder_falls_back_to_words_and_loses_nothing(semantic_factory, caplog):
    embedder = WordEmbeddings(fail=True)
    memory = semantic_factory(embeddings=embedder)
    memory.add("s", said("a pet needs walks", "dog food"))
    memory.wait("s")
    with caplog.at_level("WARNING", logger="motorhead_magic"):
        first = memory.search("s", "dog")
        second = memory.search("s", "dog")
    assert seqs(first) == seqs(second) and seqs(first)[0] == 1  # words, in context
    assert "words only" in memory.search_note and "service down" in memory.search_note
    assert sum("words only" in r.message for r in caplog.records) == 1
    embedder.fail = False  # back: the next write's indexing catches up on everything
    memory.add("s", said("weather"))
    memory.wait("s")
    assert {0, 1} <= set(seqs(memory.search("s", "puppy", mode="semantic")))
    assert memory.search_note is None


@in_process_embedder  # counts, toggles or resizes the embedder object
def test_a_hanging_embedder_does_not_hang_search(semantic_factory):
    embedder = WordEmbeddings()
    memory = semantic_factory(embeddings=embedder, embed_timeout=0.5)
    memory.add("s", said("dog food"))
    memory.wait("s")
    embedder.hang = 5.0
    assert seqs(memory.search("s", "dog")) == [0]
    assert "did not answer" in memory.search_note


@in_process_embedder  # counts, toggles or resizes the embedder object
def test_a_changed_dimension_is_a_clear_error(semantic_factory):
    memory = semantic_factory(embeddings=WordEmbeddings(dimension=64))
    memory.add("s", said("dog food"))
    memory.wait("s")
    other = semantic_factory(embeddings=WordEmbeddings(dimension=32))
    with pytest.raises(mh.InvalidInput, match="32-dimensional.*64-dimensional"):
        other.search("s", "dog", mode="semantic")


@in_process_embedder  # counts, toggles or resizes the embedder object
def test_vectors_go_with_delete_and_come_with_fork(semantic_factory):
    embedder = WordEmbeddings()
    memory = semantic_factory(embeddings=embedder)
    memory.add("s", said("a pet needs walks", "taxes are due"))
    memory.wait("s")
    memory.fork("s", "f", at=0)
    memory.wait()
    assert embedder.documents == 2  # the fork's vectors were copied, not re-embedded
    assert seqs(memory.search("f", "puppy", mode="semantic")) == [0]
    memory.delete("s")
    assert memory.search("s", "puppy", mode="semantic") == []
    memory.add("s", said("unrelated"))
    memory.wait("s")
    assert [h.message.content for h in memory.search("s", "puppy", mode="semantic")
            if h.score > 0] == []


def test_semantic_modes_need_an_embedder(memory_factory):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match="needs an embedder"):
        memory.search("s", "dog", mode="semantic")


def test_the_result_says_which_ranking_ordered_the_hits(semantic_factory):
    memory = semantic_factory(embeddings=WordEmbeddings())
    memory.add("s", said("a pet needs walks", "dog food"))
    memory.wait("s")
    hybrid = memory.search_result("s", "dog")
    assert (hybrid.ranking, hybrid.note) == ("hybrid", None)
    assert [h.message.seq for h in hybrid.hits] == seqs(memory.search("s", "dog"))
    assert memory.search_result("s", "dog", mode="keyword").ranking == "keyword"
    assert memory.search_result("s", "dog", mode="semantic").ranking == "semantic"


@in_process_embedder
def test_with_nothing_embedded_yet_meaning_falls_back_to_words(semantic_factory):
    memory = semantic_factory(embeddings=WordEmbeddings(fail=True))
    memory.add("s", said("dog food", "weather"))
    memory.wait("s")
    result = memory.search_result("s", "dog", mode="semantic")
    assert result.ranking == "keyword" and seqs(result.hits) == [0]
    assert "no message of this session is embedded yet" in result.note
    assert memory.search_result("nobody", "dog", mode="semantic").hits == []


@in_process_embedder
def test_a_burst_of_writes_is_embedded_after_it_in_one_batch(semantic_factory):
    import time

    embedder = WordEmbeddings()
    memory = semantic_factory(embeddings=embedder)
    for i in range(20):  # back to back: embedding waits for the pause
        memory.add("s", said(f"message {i} about a pet"))
    assert embedder.documents == 0
    deadline = time.monotonic() + 30
    while embedder.documents < 20 and time.monotonic() < deadline:  # no wait(): by itself
        time.sleep(0.05)
    assert (embedder.documents, embedder.batches) == (20, 1)
    memory.wait("s")  # the vectors' write, after the embedder's answer
    assert len(memory.search("s", "puppy", k=20, mode="semantic")) == 20


def test_as_of_searches_what_memory_held_at_a_seq_or_a_time(memory_factory):
    import time
    from datetime import timedelta

    memory = memory_factory()
    memory.add("s", said("I drive a Golf", "nice car"))
    time.sleep(0.02)
    memory.add("s", said("I sold the Golf, I drive a Tesla now", "fancy"))
    first = memory.history("s")[1].created_at
    assert sorted(seqs(memory.search("s", "Golf", as_of=1))) == [0]
    assert sorted(seqs(memory.search("s", "Golf", as_of=2))) == [0, 2]
    assert sorted(seqs(memory.search("s", "Golf", as_of=first))) == [0]
    assert seqs(memory.search("s", "Golf", as_of=first - timedelta(days=1))) == []
    assert sorted(seqs(memory.search("s", "Golf", as_of=first + timedelta(days=1)))) == [0, 2]
    assert sorted(seqs(memory.search("s", "Golf", as_of=first.replace(tzinfo=None)))) == [0]
    with pytest.raises(mh.InvalidInput, match="before or as_of"):
        memory.search("s", "Golf", before=1, as_of=1)
    for bad in (-1, "yesterday", 1.5, True):
        with pytest.raises(mh.InvalidInput, match="as_of"):
            memory.search("s", "Golf", as_of=bad)
