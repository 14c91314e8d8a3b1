"""The panel's long-term memory, as widgets: the search field and its hits, and the
earlier messages the last turn recalled (from its provenance); real SQLite, real turns
through a fake chat model."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
from langchain_core.language_models import FakeListChatModel

import motorhead_magic as mh
from motorhead_magic.chat.turn import run_turn
from motorhead_magic.notebook.panel import render_text
from motorhead_magic.notebook.panel_view import descendants


@pytest.fixture
def memory(sqlite_url: str):
    memory = mh.connect(sqlite_url, window_size=4)
    yield memory
    memory.close()


def fill(memory, session="s"):
    memory.add(session, [{"role": "Human", "content": "I live in Lisbon <and> I play bass."},
                         {"role": "AI", "content": "Nice."}])
    for i in range(3):
        memory.add(session, [{"role": "Human", "content": f"joke {i}"},
                             {"role": "AI", "content": f"ha {i}"}])


def sender(memory, recall: int, replies=("You live in Lisbon.",) * 5):
    model = FakeListChatModel(responses=list(replies))

    def send(session_id: str, text: str) -> str:
        return run_turn(memory, session_id, text, model, recall=recall)

    return send


def test_the_search_field_finds_folded_or_older_messages(memory, panels) -> None:
    fill(memory)
    panel = panels(memory, "s")
    search = panel._search
    assert search.field.continuous_update is False  # searches on Enter, not per keystroke
    assert id(search.box) in {id(w) for w in descendants(panel)}
    assert search.results.value == ""
    search.field.value = "Lisbon"  # what Enter does
    hits = search.results.value
    assert "1 message(s) match “Lisbon”" in hits and "#0 · Human · score " in hits
    assert "&lt;and&gt;" in hits and "<and>" not in hits  # escaped
    assert "style=" not in hits
    search.field.value = "nothing like it"
    assert "No messages match" in search.results.value
    search.field.value = "Lisbon"
    search.button.click()
    assert "1 message(s)" in search.results.value
    search.field.value = "  "
    assert search.results.value == ""
    assert all(b.layout.width == "auto" for b in descendants(panel)
               if isinstance(b, widgets.Button))


def test_switching_sessions_clears_the_hits_and_searches_the_new_one(memory, panels) -> None:
    fill(memory, "a")
    memory.add("b", [{"role": "Human", "content": "Porto is nice"}])
    panel = panels(memory, "a")
    panel._search.field.value = "Lisbon"
    assert "1 message(s)" in panel._search.results.value
    panel._picker.value = "b"
    assert panel._search.field.value == "" and panel._search.results.value == ""
    panel._search.field.value = "Lisbon"
    assert "No messages match" in panel._search.results.value  # never another session's
    panel._search.field.value = "Porto"
    assert "#0 · Human" in panel._search.results.value


def test_a_failing_search_shows_an_error_not_an_exception(memory, panels, monkeypatch) -> None:
    fill(memory)
    panel = panels(memory, "s")
    monkeypatch.setattr(memory, "search_result", lambda *a, **k: 1 / 0)
    panel._search.field.value = "Lisbon"
    assert "Search failed: ZeroDivisionError" in panel._search.results.value
    assert "mhp-error" in panel._search.results.value


def test_the_last_turns_recalled_messages_show_under_the_window(memory, panels) -> None:
    fill(memory)
    panel = panels(memory, "s", send=sender(memory, recall=2))
    assert panel._search.recalled.value == ""  # no turn with recall yet
    inside = {id(w) for w in descendants(panel._scroll)}
    assert id(panel._search.recalled) in inside
    panel._prompt.value = "Which city do I live in?"
    panel._send_button.click()
    record = memory.history("s")[-1].metadata["seen"]
    assert record["retrieved"] == [0]
    recalled = panel._search.recalled.value
    assert f"the last turn (#{memory.history('s')[-1].seq}) also recalled #0" in recalled
    assert "Lisbon &lt;and&gt;" in recalled and "#0 · Human · recalled" in recalled
    assert "style=" not in recalled
    assert "also recalled #0" in render_text(memory, "s")  # the text view says it too
    run_turn(memory, "s", "thanks", FakeListChatModel(responses=["ok"]))  # no recall
    assert panel._search.recalled.value == ""


def test_a_turn_whose_search_failed_says_so_in_the_panel(memory, panels, monkeypatch) -> None:
    fill(memory)
    panel = panels(memory, "s", send=sender(memory, recall=3))
    monkeypatch.setattr(memory, "search_result", lambda *a, **k: 1 / 0)
    panel._prompt.value = "Which city do I live in?"
    panel._send_button.click()
    assert memory.history("s")[-1].content == "You live in Lisbon."  # the turn was stored
    assert "recalled nothing: the search failed (ZeroDivisionError" in (
        panel._search.recalled.value)
    assert "mhp-error" not in panel._status.value
