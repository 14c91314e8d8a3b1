"""DataFrames of the memory (DESIGN.md section 6): exact schemas, unicode, import round trip."""

from __future__ import annotations

import pandas as pd
import pytest

import motorhead_magic as mh
from motorhead_magic.memory import frames
from motorhead_magic.transfer import import_frame
from tests.fakes import SummaryEcho

MESSAGE_COLUMNS = ["session_id", "seq", "role", "content", "tokens", "created_at", "summarized",
                   "metadata"]
SUMMARY_COLUMNS = ["session_id", "through_seq", "context", "tokens_used", "created_at"]
SESSION_COLUMNS = ["session_id", "messages", "summaries", "last_write", "window_tokens", "parent",
                   "forked_at"]


@pytest.fixture
def memory(sqlite_url: str):
    memory = mh.connect(sqlite_url, window_size=4, summarizer=SummaryEcho())
    yield memory
    memory.close()


def assert_schema(df: pd.DataFrame, dtypes: dict[str, str]) -> None:
    assert list(df.columns) == list(dtypes)
    assert {name: str(dtype) for name, dtype in df.dtypes.items()} == dtypes


def turns(n: int, text: str = "message") -> list[dict]:
    return [{"role": "Human" if i % 2 == 0 else "AI", "content": f"{text} {i}"}
            for i in range(n)]


def test_empty_frames_have_the_exact_schemas(memory) -> None:
    for df in (memory.to_dataframe(), memory.to_dataframe("nobody")):
        assert len(df) == 0
        assert list(df.columns) == MESSAGE_COLUMNS
        assert_schema(df, frames.MESSAGE_DTYPES)
    assert list(memory.summaries_dataframe().columns) == SUMMARY_COLUMNS
    assert_schema(memory.summaries_dataframe(), frames.SUMMARY_DTYPES)
    assert_schema(memory.summaries_dataframe("nobody"), frames.SUMMARY_DTYPES)
    assert list(memory.sessions_dataframe().columns) == SESSION_COLUMNS
    assert_schema(memory.sessions_dataframe(), frames.SESSION_DTYPES)


def test_filled_frames_have_the_same_schemas_and_values(memory) -> None:
    memory.add("a", turns(10))
    memory.add("b", [{"role": "Human", "content": "hi", "metadata": {"lang": "en"}}])
    memory.wait()
    messages = memory.to_dataframe()
    assert_schema(messages, frames.MESSAGE_DTYPES)
    assert list(messages["session_id"]) == ["a"] * 10 + ["b"]
    assert list(messages["seq"]) == list(range(10)) + [0]
    a = messages[messages.session_id == "a"]
    through = memory.summaries("a")[-1].through_seq
    assert list(a["summarized"]) == [seq <= through for seq in range(10)]
    assert messages["metadata"].iloc[-1] == {"lang": "en"}
    assert messages["metadata"].iloc[0] == {}
    assert messages["metadata"].iloc[0] is not messages["metadata"].iloc[1]  # no shared dicts
    assert (messages["tokens"] > 0).all()
    assert str(messages["created_at"].dt.tz) == "UTC"

    summaries = memory.summaries_dataframe("a")
    assert_schema(summaries, frames.SUMMARY_DTYPES)
    assert list(summaries["through_seq"]) == [s.through_seq for s in memory.summaries("a")]
    sessions = memory.sessions_dataframe()
    assert_schema(sessions, frames.SESSION_DTYPES)
    assert list(sessions["session_id"]) == ["a", "b"]
    assert list(sessions["messages"]) == [10, 1]


def test_unicode_roundtrips_through_the_frame(memory) -> None:
    texts = ["Motörhead 🤘", "日本語のテキスト",
             "emoji 👩‍👩‍👧 and \u200b zero width", "", "\x00nul"]
    memory.add("ünï", [{"role": "Human", "content": t, "metadata": {"ключ": "значение 🎸"}}
                       for t in texts])
    df = memory.to_dataframe("ünï")
    assert list(df["content"]) == texts
    assert set(df["session_id"]) == {"ünï"}
    assert df["metadata"].iloc[0] == {"ключ": "значение 🎸"}


def test_import_roundtrip_keeps_role_content_metadata_and_order(memory) -> None:
    source = [{"role": r, "content": c, "metadata": m} for r, c, m in [
        ("System", "be brief", {}), ("Human", "hi 🤘", {"n": 1, "tags": ["a", "b"]}),
        ("AI", "hello", {"nested": {"x": None}}), ("Human", "line\nbreaks", {}),
        ("AI", "bye", {}), ("tool", "{\"json\": true}", {"id": "t1"}),
    ]]
    memory.add("orig", source)
    memory.wait()
    exported = memory.to_dataframe("orig")
    assert import_frame(memory, exported.sample(frac=1, random_state=3), "copy") == 6
    memory.wait()
    copy = memory.to_dataframe("copy")
    keep = ["role", "content", "metadata"]
    assert copy[keep].to_dict("records") == exported[keep].to_dict("records")
    assert list(copy["seq"]) == list(range(6))
    assert_schema(copy, frames.MESSAGE_DTYPES)


def test_import_without_seq_uses_row_order_and_plain_columns(memory) -> None:
    df = pd.DataFrame({"role": ["Human", "AI"], "content": ["first", "second"]})
    assert import_frame(memory, df, "plain") == 2
    assert [(m.role, m.content, m.metadata) for m in memory.history("plain")] == [
        ("Human", "first", {}), ("AI", "second", {})]


def test_import_accepts_json_metadata_strings_from_csv(memory, tmp_path) -> None:
    memory.add("orig", [{"role": "Human", "content": "hi", "metadata": {"k": [1, 2]}}])
    path = tmp_path / "m.csv"
    df = memory.to_dataframe("orig")
    df.assign(metadata=df["metadata"].map(lambda m: __import__("json").dumps(m))).to_csv(path)
    import_frame(memory, pd.read_csv(path), "from_csv")
    assert memory.history("from_csv")[0].metadata == {"k": [1, 2]}


def test_import_of_an_empty_frame_adds_nothing(memory) -> None:
    assert import_frame(memory, memory.to_dataframe("nobody"), "empty") == 0
    assert memory.sessions() == []


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (pd.DataFrame({"content": ["x"]}), "missing column(s) role"),
        (pd.DataFrame({"text": ["x"]}), "missing column(s) role, content; it has text"),
        (pd.DataFrame({"role": ["Human", ""], "content": ["x", "y"]}), "row 1: 'role'"),
        (pd.DataFrame({"role": ["Human"], "content": [None]}), "row 0: 'content' must be a str"),
        (pd.DataFrame({"role": ["Human"], "content": pd.array([None], dtype="string")}),
         "row 0: 'content'"),
        (pd.DataFrame({"role": ["AI"], "content": ["x"], "metadata": [[1]]}),
         "row 0: 'metadata' must be a dict, got list"),
        (pd.DataFrame({"role": ["AI"], "content": ["x"], "metadata": ["{oops"]}),
         "row 0: 'metadata' is a string but not JSON"),
        (pd.DataFrame({"role": ["AI", "AI"], "content": ["x", "y"], "seq": [1, 1]}),
         "'seq' has duplicate values"),
        (pd.DataFrame({"session_id": ["a", "b"], "role": ["AI", "AI"], "content": ["x", "y"]}),
         "holds 2 sessions ('a', 'b'"),
        ([{"role": "AI", "content": "x"}], "expected a pandas DataFrame, got list"),
    ],
)
def test_import_rejects_bad_frames_and_writes_nothing(memory, df, message: str) -> None:
    with pytest.raises(mh.InvalidInput) as caught:
        import_frame(memory, df, "target")
    assert message in str(caught.value)
    assert memory.sessions() == []


def test_import_is_all_or_nothing_when_a_late_row_is_bad(memory) -> None:
    rows = turns(500) + [{"role": "AI", "content": 42}]
    with pytest.raises(mh.InvalidInput, match="row 500"):
        import_frame(memory, pd.DataFrame(rows), "target")
    assert memory.history("target") == []


def test_import_refuses_an_existing_session(memory) -> None:
    memory.add("taken", turns(2))
    with pytest.raises(mh.InvalidInput, match="'taken' already has messages"):
        import_frame(memory, pd.DataFrame(turns(2)), "taken")
    assert len(memory.history("taken")) == 2


def test_metadata_json_is_parsed_per_row_into_distinct_dicts(sqlite_url: str) -> None:
    """export_columns parses all metadata in one json.loads; each row still gets its own."""
    memory = mh.connect(sqlite_url)
    try:
        memory.add("m", [{"role": "AI", "content": str(i), "metadata": {"i": i} if i % 2 else {}}
                         for i in range(7)])
        metadata = list(memory.to_dataframe("m")["metadata"])
        assert metadata == [{"i": i} if i % 2 else {} for i in range(7)]
        metadata[0]["changed"] = True
        assert metadata[2] == {}
    finally:
        memory.close()
