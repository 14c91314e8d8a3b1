"""``%motorhead search``: the hits of a session as a table, ``-o`` as a DataFrame (DESIGN.md
section 6), by words on the embedded store, by meaning with an embedder."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

from motorhead_magic.notebook.render import SearchReport
from tests.fakes import WordEmbeddings
from tests.magics.conftest import magics

HIT_COLUMNS = ["session_id", "seq", "role", "content", "score", "created_at", "metadata"]


def line(ip, text: str):
    return ip.run_line_magic("motorhead", text)


def fill(ip, session="default"):
    memory = magics(ip).memory
    memory.add(session, [
        {"role": "Human", "content": "I live in Lisbon and I play the bass guitar."},
        {"role": "AI", "content": "Lisbon is a lovely city."},
        {"role": "Human", "content": "My puppy is called Rex."},
        {"role": "AI", "content": "What a good boy."},
    ])
    return memory


def test_search_shows_a_readable_table_best_first(ip):
    fill(ip)
    report = line(ip, "search Lisbon")
    assert isinstance(report, SearchReport)
    text = str(report)
    assert text.splitlines()[0] == (
        "2 messages in session 'default' for 'Lisbon', best first (keyword search)")
    rows = text.splitlines()[1:]
    assert len(rows) == 2 and all("Lisbon" in row for row in rows)
    assert "#1 " in rows[0] or "#0 " in rows[0]
    html = report._repr_html_()
    for header in ("score", "seq", "role", "date (UTC)", "content"):
        assert f"<th>{header}</th>" in html
    assert "Human" in html and "AI" in html
    magics(ip).memory.add("default", [{"role": "Human", "content": "zebra " + "x y. " * 80}])
    long = str(line(ip, "search zebra"))
    assert "more characters]" in long and len(long) < 600  # cut with shorten


def test_search_output_is_the_hits_dataframe(ip, capsys):
    fill(ip)
    assert line(ip, "search lisbon -k 1 -o hits") is None
    assert "1 message in session 'default'" in capsys.readouterr().out
    frame = ip.user_ns["hits"]
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == HIT_COLUMNS and len(frame) == 1
    assert str(frame["seq"].dtype) == "int64" and str(frame["score"].dtype) == "float64"
    assert str(frame["session_id"].dtype) == "string" and str(frame["content"].dtype) == "string"
    assert isinstance(frame["created_at"].dtype, pd.DatetimeTZDtype)
    assert "Lisbon" in frame["content"].iloc[0]
    line(ip, "search nothing-like-this -o none")
    empty = ip.user_ns["none"]
    assert list(empty.columns) == HIT_COLUMNS and len(empty) == 0
    assert str(empty["score"].dtype) == "float64"
    assert line(ip, "search lisbon").frame.equals(line(ip, "search lisbon").frame)


def test_no_match_says_so_and_session_picks_another(ip):
    fill(ip)
    fill(ip, session="other band")
    magics(ip).memory.add("other band", [{"role": "Human", "content": "Porto, actually"}])
    empty = line(ip, "search Porto")
    assert str(empty) == "no messages match 'Porto' in session 'default' (keyword search)"
    assert "no messages match" in empty._repr_html_() and "<table" not in empty._repr_html_()
    found = line(ip, "search Porto --session 'other band'")
    assert found.session_id == "other band" and len(found.hits) == 1
    assert found.hits[0].message.seq == 4
    line(ip, "session 'other band'")
    assert len(line(ip, "search Porto").hits) == 1  # the bound session by default
    assert len(line(ip, 'search "where\'s Porto?" -k 3').hits) == 1  # quoted: one text


@pytest.mark.parametrize("text, needle", [
    ("search", "the following arguments are required: TEXT"),
    ("search lisbon -k 0", "argument -k: expected 1 to 1000, got 0"),
    ("search lisbon -k many", "argument -k: expected a whole number, got 'many'"),
    ("search lisbon -k 5000", "expected 1 to 1000"),
    ("search lisbon --mode fuzzy", "argument --mode: invalid choice: 'fuzzy'"),
    ("search lisbon --mode semantic", "semantic search needs an embedder: %config"),
    ("search lisbon --session ''", "session id must be a non-empty string"),
    ("search lisbon -o 'not a name'", "not a valid variable name"),
    ("search what's", "No closing quotation"),
])
def test_bad_arguments_are_one_short_usage_error(ip, text, needle):
    fill(ip)
    result = ip.run_cell(f"%motorhead {text}")
    assert isinstance(result.error_in_exec, UsageError), text
    message = str(result.error_in_exec)
    assert needle in message and "\n" not in message and len(message) < 300, message


def test_search_by_meaning_with_an_embedder_from_a_variable(ip, capsys):
    ip.user_ns["words"] = WordEmbeddings(dimension=1024)  # no hash collisions here
    ip.run_line_magic("config", "MotorheadMagics.embeddings = 'words'")
    memory = fill(ip)
    assert memory.embedder is ip.user_ns["words"]
    memory.wait("default")
    report = line(ip, "search hound --mode semantic -k 1")  # shares no word with "puppy"
    assert report.mode == "semantic" and "puppy" in report.hits[0].message.content
    assert line(ip, "search hound").mode == "hybrid"  # the default with an embedder
    assert line(ip, "search hound --mode keyword").hits == []
    ip.user_ns["words"].fail = True
    fell_back = line(ip, "search Lisbon --mode hybrid")
    assert fell_back.note and "searched by words only" in fell_back.note
    assert fell_back.mode == "hybrid"  # the default's rule, on words alone
    assert "note: searched by words only" in str(fell_back)
    assert "Lisbon" in fell_back.hits[0].message.content
    ip.run_line_magic("config", "MotorheadMagics.embeddings = 'nonesuch'")
    result = ip.run_cell("%motorhead search x")
    assert "embeddings 'nonesuch': use 'local', 'none'" in str(result.error_in_exec)
