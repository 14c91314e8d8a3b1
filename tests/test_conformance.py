"""One suite, every backend: the memory semantics of DESIGN.md sections 3 and 4.

``memory_factory`` (tests/conftest.py) hands out a Memory on each backend in
turn; nothing here knows which one it got. Summaries come from
``tests.fakes.SummaryEcho``, whose text lists exactly the lines it folded.
"""

from __future__ import annotations

import pandas as pd
import pytest

import motorhead_magic as mh


def turns(n: int, start: int = 0) -> list[dict]:
    """n alternating Human/AI messages m{start}..m{start+n-1}."""
    return [{"role": "Human" if i % 2 == 0 else "AI", "content": f"m{i}"}
            for i in range(start, start + n)]


def folded_lines(context: str) -> list[str]:
    """The lines an echo summary covers, in the order they were folded."""
    return [line for chunk in context.split(" | ") for line in chunk.split(" / ")]


def contents(messages) -> list[str]:
    return [m.content for m in messages]


def test_unknown_session_is_empty(memory_factory):
    memory = memory_factory()
    view = memory.get("nobody")
    assert (view.messages, view.context, view.tokens) == ([], None, 0)
    assert memory.history("nobody") == []
    assert memory.summaries("nobody") == []
    assert "nobody" not in memory.sessions()


def test_window_shows_at_most_w_newest_last(memory_factory):
    memory = memory_factory(window_size=4)
    for i in range(10):
        memory.add("s", turns(1, i))
    view = memory.get("s")
    assert contents(view.messages) == ["m6", "m7", "m8", "m9"]
    assert [m.seq for m in view.messages] == [6, 7, 8, 9]
    assert view.context is None and view.tokens == 0


def test_history_has_every_message_with_seq_tokens_and_time(memory_factory):
    memory = memory_factory(window_size=4)
    memory.add("s", turns(7))
    history = memory.history("s")
    assert contents(history) == [f"m{i}" for i in range(7)]
    assert [m.seq for m in history] == list(range(7))
    assert [m.role for m in history] == ["Human", "AI"] * 3 + ["Human"]
    assert all(m.tokens > 0 for m in history)
    assert all(m.created_at.utcoffset().total_seconds() == 0 for m in history)
    assert contents(memory.history("s", start=2, limit=3)) == ["m2", "m3", "m4"]


def test_roles_are_stored_as_given(memory_factory):
    memory = memory_factory()
    memory.add("s", [{"role": "Narrateur ✍", "content": "il était une fois"},
                     {"role": "system", "content": "be brief"}])
    assert [m.role for m in memory.get("s").messages] == ["Narrateur ✍", "system"]


def test_fold_rule_folds_all_but_newest_half_window(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", turns(4))
    memory.wait("s")
    assert memory.summaries("s") == []  # 4 messages fit the window: no fold

    memory.add("s", turns(1, 4))  # 5 > W: fold all but the newest W // 2
    memory.wait("s")
    [summary] = memory.summaries("s")
    assert summary.through_seq == 2
    assert folded_lines(summary.context) == ["Human: m0", "AI: m1", "Human: m2"]
    assert summary.tokens_used > 0
    view = memory.get("s")
    assert contents(view.messages) == ["m3", "m4"]
    assert view.context == summary.context
    assert view.tokens == summary.tokens_used


def test_folds_build_on_the_previous_summary(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", turns(5))
    memory.wait("s")
    memory.add("s", turns(3, 5))  # window m3..m7 = 5 > 4
    memory.wait("s")
    first, second = memory.summaries("s")
    assert (first.through_seq, second.through_seq) == (2, 5)
    assert folded_lines(second.context) == [
        "Human: m0", "AI: m1", "Human: m2", "AI: m3", "Human: m4", "AI: m5"]
    assert second.context.startswith(first.context + " | ")
    assert memory.get("s").tokens == first.tokens_used + second.tokens_used
    assert contents(memory.get("s").messages) == ["m6", "m7"]


def test_summaries_are_append_only_and_history_marks_summarized(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", turns(5))
    memory.wait("s")
    before = memory.summaries("s")
    memory.add("s", turns(6, 5))
    memory.wait("s")
    after = memory.summaries("s")
    assert after[: len(before)] == before
    assert [s.through_seq for s in after] == sorted({s.through_seq for s in after})
    point = after[-1].through_seq
    history = memory.history("s")
    assert len(history) == 11
    assert [m.summarized for m in history] == [m.seq <= point for m in history]


def test_without_summarizer_no_fold_and_window_stays_bounded(memory_factory):
    memory = memory_factory(window_size=4)
    memory.add("s", turns(40))
    memory.wait("s")
    assert memory.summaries("s") == []
    assert len(memory.get("s").messages) == 4
    assert len(memory.history("s")) == 40


def test_client_context_replaces_summary_without_moving_the_point(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", turns(2), context="seeded from elsewhere")
    view = memory.get("s")
    assert view.context == "seeded from elsewhere"
    assert contents(view.messages) == ["m0", "m1"]
    [seed] = memory.summaries("s")
    assert (seed.through_seq, seed.tokens_used) == (-1, 0)

    memory.add("s", turns(3, 2))  # 5 > 4: the fold builds on the seeded context
    memory.wait("s")
    assert memory.get("s").context.startswith("seeded from elsewhere | Human: m0")


def test_context_only_and_empty_messages(memory_factory):
    memory = memory_factory()
    memory.add("s", [], context="only a context")
    assert memory.get("s").context == "only a context"
    assert memory.history("s") == []
    memory.add("t", [])
    assert "t" not in memory.sessions()


def test_delete_is_total_and_ids_can_be_reused(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("gone", turns(9))
    memory.wait("gone")
    assert memory.summaries("gone")
    memory.delete("gone")
    assert memory.get("gone").messages == [] and memory.get("gone").context is None
    assert memory.history("gone") == [] and memory.summaries("gone") == []
    assert "gone" not in memory.sessions()
    memory.delete("never-existed")  # deleting an unknown id is fine
    memory.add("gone", turns(1))
    assert [m.seq for m in memory.history("gone")] == [0]
    assert memory.get("gone").context is None


def test_sessions_ordered_by_last_write(memory_factory):
    memory = memory_factory()
    for sid in ("a", "b", "c"):
        memory.add(sid, turns(1))
    memory.add("a", turns(1, 1))
    assert memory.sessions() == ["b", "c", "a"]


def test_namespace_scopes_listing_only(memory_factory):
    memory = memory_factory()
    memory.add("x", turns(1), namespace="team")
    memory.add("y", turns(1))
    assert memory.sessions(namespace="team") == ["x"]
    assert memory.sessions() == ["x", "y"]
    assert contents(memory.get("x").messages) == ["m0"]


ODD_IDS = [
    "ünïcødé 会话 🤘",
    "with spaces and\ttabs",
    "a/b/c",
    "quote'\"`",
    "'; DROP TABLE messages; --",
    "x" * 1024,
    "-leading-dash",
    "colon:separated:id",
    "100%25 percent %2F",
    "line\nbreak\r\x0c",
]


@pytest.mark.parametrize("session_id", ODD_IDS, ids=range(len(ODD_IDS)))
def test_odd_session_ids_are_plain_data(memory_factory, session_id):
    memory = memory_factory(window_size=4)
    memory.add(session_id, turns(3))
    memory.add("neighbour", turns(1))
    assert contents(memory.get(session_id).messages) == ["m0", "m1", "m2"]
    assert session_id in memory.sessions()
    memory.delete(session_id)
    assert memory.sessions() == ["neighbour"]
    assert contents(memory.get("neighbour").messages) == ["m0"]


def test_empty_and_one_megabyte_messages_round_trip(memory_factory):
    memory = memory_factory()
    big = "Lemmy 🤘 {json: [1, 2]} " * 45_000  # ~1 MB of text
    memory.add("s", [{"role": "Human", "content": ""}, {"role": "AI", "content": big}])
    empty, large = memory.history("s")
    assert (empty.content, empty.tokens) == ("", 0)
    assert large.content == big and large.tokens > 100_000


def test_metadata_round_trips(memory_factory):
    memory = memory_factory()
    memory.add("s", [{"role": "Human", "content": "hi", "metadata": {"cell": 3, "tags": ["é"]}}])
    assert memory.history("s")[0].metadata == {"cell": 3, "tags": ["é"]}


def test_langchain_messages_are_accepted(memory_factory):
    from langchain_core.messages import AIMessage, HumanMessage

    memory = memory_factory()
    memory.add("s", [HumanMessage("hi im bob"), AIMessage("Hi Bob!")])
    assert [(m.role, m.content) for m in memory.get("s").messages] == [
        ("Human", "hi im bob"), ("AI", "Hi Bob!")]


BAD_BATCHES = [
    ("hello", "list"),
    ({"role": "Human", "content": "hi"}, "list"),
    ([{"content": "no role"}], "role"),
    ([{"role": "Human"}], "content"),
    ([{"role": "Human", "content": 42}], "content"),
    ([{"role": "", "content": "x"}], "role"),
    ([{"role": "Human", "content": "ok"}, "not a message"], "message 1"),
    ([{"role": "Human", "content": "x", "metadata": {"f": object()}}], "metadata"),
    # Text that cannot be stored as UTF-8 would poison the session for later reads.
    ([{"role": "Human", "content": "bad \udc00 text"}], "content.*lone surrogate"),
    ([{"role": "Hu\ud800man", "content": "x"}], "role.*lone surrogate"),
    ([{"role": "Human", "content": "x", "metadata": {"k": "\udc00"}}], "metadata.*surrogate"),
    # Metadata must be strict JSON, with string keys and a bounded depth.
    ([{"role": "Human", "content": "x", "metadata": {"n": float("nan")}}], "metadata.*nan"),
    ([{"role": "Human", "content": "x", "metadata": {"n": float("inf")}}], "metadata.*inf"),
    ([{"role": "Human", "content": "x", "metadata": {1: "int key"}}], "non-string key"),
    ([{"role": "Human", "content": "x", "metadata": "not a dict"}], "metadata must be a dict"),
]


def _deep(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize(("batch", "named"), BAD_BATCHES, ids=range(len(BAD_BATCHES)))
def test_bad_input_names_the_problem_and_writes_nothing(memory_factory, batch, named):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match=named):
        memory.add("s", batch)
    assert memory.sessions() == [] and memory.history("s") == []


@pytest.mark.parametrize("session_id", ["", None, 7, "lone \udc00 surrogate"])
def test_bad_session_ids_are_refused(memory_factory, session_id):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match="session id"):
        memory.add(session_id, turns(1))


def test_deeply_nested_metadata_is_refused_not_a_crash(memory_factory):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match="nested deeper"):
        memory.add("s", [{"role": "Human", "content": "x", "metadata": _deep(5_000)}])
    memory.add("s", [{"role": "Human", "content": "x", "metadata": _deep(10)}])
    assert memory.history("s")[0].metadata == _deep(10)


@pytest.mark.parametrize(("options", "named"), [
    ({"namespace": 5}, "namespace must be a string"),
    ({"namespace": "bad \udc00"}, "namespace.*surrogate"),
    ({"context": 5}, "context must be a string"),
    ({"context": "bad \udc00"}, "context.*surrogate"),
])
def test_bad_add_options_are_refused_the_same_on_every_backend(memory_factory, options, named):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match=named):
        memory.add("s", turns(2), **options)
    assert memory.sessions() == [] and memory.history("s") == []


def test_an_empty_namespace_means_none(memory_factory):
    memory = memory_factory()
    memory.add("s", turns(1), namespace="")
    assert memory.sessions() == ["s"] and memory.sessions(namespace="") == ["s"]


@pytest.mark.parametrize(("start", "limit", "named"), [
    (1.5, None, "start"), (-1, None, "start"), ("a", None, "start"), (True, None, "start"),
    (0, -1, "limit"), (0, 2.0, "limit"), (0, "3", "limit"),
])
def test_history_range_is_checked_the_same_on_every_backend(memory_factory, start, limit,
                                                            named):
    memory = memory_factory()
    memory.add("s", turns(3))
    with pytest.raises(mh.InvalidInput, match=named):
        memory.history("s", start, limit)


def test_failing_summarizer_changes_nothing(memory_factory):
    memory = memory_factory(window_size=4, summarizer="failing")
    memory.add("s", turns(9))
    memory.wait("s")
    assert memory.summaries("s") == []
    assert len(memory.history("s")) == 9
    assert contents(memory.get("s").messages) == ["m5", "m6", "m7", "m8"]


def test_messages_dataframe_schema_and_values(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    empty = memory.to_dataframe()
    memory.add("s", turns(5))
    memory.wait("s")
    memory.add("t", [{"role": "Human", "content": "ça va ?", "metadata": {"k": 1}}])
    frame = memory.to_dataframe()
    assert list(frame.columns) == list(empty.columns) == [
        "session_id", "seq", "role", "content", "tokens", "created_at", "summarized", "metadata"]
    assert dict(frame.dtypes.astype(str)) == dict(empty.dtypes.astype(str))
    assert str(frame["created_at"].dtype).startswith("datetime64") and "UTC" in str(
        frame["created_at"].dtype)
    assert frame["seq"].dtype == "int64" and frame["summarized"].dtype == bool
    one = memory.to_dataframe("s")
    assert one["content"].tolist() == [f"m{i}" for i in range(5)]
    assert one["summarized"].tolist() == [True, True, True, False, False]
    assert frame.loc[frame["session_id"] == "t", "metadata"].tolist() == [{"k": 1}]


def test_summaries_and_sessions_dataframes(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    assert list(memory.sessions_dataframe().columns) == [
        "session_id", "messages", "summaries", "last_write", "window_tokens", "parent",
        "forked_at"]
    memory.add("s", turns(5))
    memory.wait("s")
    summaries = memory.summaries_dataframe("s")
    assert list(summaries.columns) == [
        "session_id", "through_seq", "context", "tokens_used", "created_at"]
    assert summaries["through_seq"].tolist() == [2]
    sessions = memory.sessions_dataframe()
    row = sessions.set_index("session_id").loc["s"]
    assert (row["messages"], row["summaries"]) == (5, 1)
    assert row["window_tokens"] == sum(m.tokens for m in memory.get("s").messages)
    assert isinstance(row["last_write"], pd.Timestamp) and row["last_write"].tzinfo is not None
    assert pd.isna(row["parent"]) and pd.isna(row["forked_at"])
    assert str(sessions["forked_at"].dtype) == "Int64"


def test_async_get_matches_get(memory_factory):
    import asyncio

    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", turns(7))
    memory.wait("s")

    async def reads() -> list:
        views = [await memory.aget(session_id) for session_id in ("s", "unknown")]
        with pytest.raises(mh.InvalidInput, match="session id"):
            await memory.aget("")
        return views

    assert asyncio.run(reads()) == [memory.get("s"), memory.get("unknown")]


def test_session_infos_of_chosen_ids(memory_factory):
    memory = memory_factory(window_size=4)
    for sid in ("a", "b", "c"):
        memory.add(sid, turns(3))
    memory.add("a", turns(2, 3))
    every = memory.session_infos()
    assert [i.session_id for i in every] == ["b", "c", "a"]
    chosen = memory.session_infos(["a", "missing", "b", "a"])
    assert chosen == [i for i in every if i.session_id in ("a", "b")]
    assert (chosen[1].messages, chosen[1].window_tokens) == (
        5, sum(m.tokens for m in memory.get("a").messages))
    assert memory.session_infos([]) == []


def test_session_infos_refuses_a_bare_string(memory_factory):
    """Before: ``session_infos("abc")`` iterated the characters."""
    memory = memory_factory()
    memory.add("abc", turns(1))
    with pytest.raises(mh.InvalidInput, match="list of session ids"):
        memory.session_infos("abc")
    assert [i.session_id for i in memory.session_infos(["abc"])] == ["abc"]


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1.0])
def test_wait_refuses_a_timeout_that_never_ends(memory_factory, timeout):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match="timeout"):
        memory.wait("s", timeout=timeout)


# -- forks (DESIGN.md section 3) ---------------------------------------------------------


def test_a_fork_is_the_source_at_that_point_then_evolves_on_its_own(memory_factory):
    memory = memory_factory(window_size=4, summarizer="echo")
    memory.add("s", turns(5))
    memory.wait("s")
    memory.add("s", turns(6, 5))
    memory.wait("s")
    history, summaries = memory.history("s"), memory.summaries("s")
    assert len(summaries) >= 2
    at = summaries[0].through_seq + 2
    assert memory.fork("s", "f", at=at) == "f"
    fork_history = memory.history("f")
    assert [(m.seq, m.role, m.content, m.tokens, m.created_at, m.metadata)
            for m in fork_history] == [(m.seq, m.role, m.content, m.tokens, m.created_at,
                                        m.metadata) for m in history[:at + 1]]
    assert memory.summaries("f") == [
        type(x)("f", x.through_seq, x.context, x.tokens_used, x.created_at, x.usage)
        for x in summaries if x.through_seq <= at]
    view = memory.get("f")
    assert view.context == summaries[0].context
    assert [m.seq for m in view.messages] == list(range(summaries[0].through_seq + 1, at + 1))
    memory.add("f", turns(1, 100))  # they evolve independently
    assert memory.history("s") == history and memory.history("f")[-1].content == "m100"
    info = {i.session_id: i for i in memory.session_infos()}
    assert (info["f"].parent, info["f"].forked_at) == ("s", at)
    assert (info["s"].parent, info["s"].forked_at) == (None, None)


def test_a_fork_of_everything_by_default(memory_factory):
    memory = memory_factory()
    memory.add("s", turns(3))
    memory.fork("s", "all")
    assert contents(memory.history("all")) == ["m0", "m1", "m2"]
    assert memory.session_infos(["all"])[0].forked_at == 2


@pytest.mark.parametrize(("source", "new_id", "at", "named"), [
    ("nobody", "f", None, "no such session"),
    ("s", "taken", None, "already exists"),
    ("s", "f", 99, "does not reach"),
    ("s", "f", 2**70, "does not reach"),
    ("s", "f", -1, "at must be"),
    ("s", "", None, "session id"),
])
def test_bad_forks_are_refused_and_write_nothing(memory_factory, source, new_id, at, named):
    memory = memory_factory()
    memory.add("s", turns(3))
    memory.add("taken", turns(1))
    before = {sid: memory.history(sid) for sid in memory.sessions()}
    with pytest.raises(mh.InvalidInput, match=named):
        memory.fork(source, new_id, at=at)
    assert {sid: memory.history(sid) for sid in memory.sessions()} == before
