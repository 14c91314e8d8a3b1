"""Recall in the turn: earlier messages from before the window, relevant to the new
human input, in the prompt the model received and in the turn's provenance; against a
real embedded memory and a fake chat model that records what it was sent."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError
from langchain_core.messages import SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

import motorhead_magic as mh
from motorhead_magic.chat.ledger import seen
from motorhead_magic.chat.turn import (
    RETRIEVED_HEADING,
    SEED_TEMPLATE,
    SYSTEM_PROMPT,
    build_messages,
    run_turn,
)
from tests.fakes import SummaryEcho
from tests.magics.conftest import RecordingChat, magics

FACT = "I live in Lisbon and I play the bass guitar."
DATED = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] Human: I live in Lisbon", re.M)


@pytest.fixture
def memory(sqlite_url):
    """A window of 4 and no summarizer: older messages leave the prompt for good."""
    with mh.connect(sqlite_url, window_size=4) as memory:
        yield memory


def chat_about(memory, session="s", turns=4):
    """The fact first, then small talk that pushes it out of the window."""
    memory.add(session, [{"role": "Human", "content": FACT},
                         {"role": "AI", "content": "Nice, a bassist."}])
    for i in range(turns):
        memory.add(session, [{"role": "Human", "content": f"tell me a joke number {i}"},
                             {"role": "AI", "content": f"joke {i}"}])


def sent_text(model: RecordingChat) -> str:
    """The newest chat turn's prompt: turns stream, while a background summary (which
    may land after the turn, on the same model) is invoked."""
    turns = [call for call, mode in zip(model.calls, model.modes) if mode == "stream"]
    return "\n".join(str(m.content) for m in turns[-1])


def test_recall_brings_an_out_of_window_fact_into_the_prompt(memory):
    chat_about(memory)
    window = [m.seq for m in memory.get("s").messages]
    assert 0 not in window and "Lisbon" not in str(build_messages(memory.get("s"), "x"))
    model = RecordingChat(responses=["You live in Lisbon."])
    run_turn(memory, "s", "Which city do I live in?", model, recall=3)
    system = model.calls[-1][0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith(SYSTEM_PROMPT + "\n\n" + RETRIEVED_HEADING + "\n")
    assert DATED.search(system.content)
    record = memory.history("s")[-1].metadata["seen"]
    assert 0 in record["retrieved"] and record["window"] == window
    assert not set(record["retrieved"]) & set(window)  # never a window message again
    assert max(record["retrieved"]) < window[0]
    assert record["recall"] == {"k": 3}
    # the window follows the system message, unchanged
    assert [m.content for m in model.calls[-1][1:-1]] == [
        m.content for m in memory.history("s", window[0], len(window))]


def test_a_folded_fact_is_recalled_after_the_summary(sqlite_url):
    with mh.connect(sqlite_url, window_size=4, summarizer=SummaryEcho()) as memory:
        chat_about(memory)
        memory.wait("s")
        view = memory.get("s")
        assert view.summary is not None and view.summary.through_seq >= 1
        model = RecordingChat(responses=["Lisbon."])
        run_turn(memory, "s", "Where do I live?", model, recall=2)
        system = model.calls[-1][0].content
        summary_at, recalled_at = system.index("Summary of the"), system.index(RETRIEVED_HEADING)
        assert summary_at < recalled_at  # after the summary, before the window
        assert DATED.search(system)
        record = memory.history("s")[-1].metadata["seen"]
        assert 0 in record["retrieved"] and record["summary"] is not None


def test_matching_window_messages_are_never_recalled(memory):
    chat_about(memory, turns=1)  # everything still in the window ... but the fact
    memory.add("s", [{"role": "Human", "content": "Lisbon is lovely in spring"},
                     {"role": "AI", "content": "Lisbon indeed"}])
    window = [m.seq for m in memory.get("s").messages]
    model = RecordingChat(responses=["ok"])
    run_turn(memory, "s", "Lisbon", model, recall=10)
    record = memory.history("s")[-1].metadata["seen"]
    assert record["window"] == window == [2, 3, 4, 5]
    assert record["retrieved"] == [0]  # the window's two Lisbon lines are not repeated
    assert sent_text(model).count("Lisbon is lovely") == 1


def test_recall_zero_or_nothing_earlier_adds_nothing(memory):
    model = RecordingChat(responses=["hi"])
    run_turn(memory, "s", "I live in Lisbon", model, recall=5)  # an empty session
    assert model.calls[-1][0] == SystemMessage(SYSTEM_PROMPT)
    chat_about(memory)
    run_turn(memory, "s", "Which city do I live in?", model)  # recall=0, the default
    assert model.calls[-1][0] == SystemMessage(SYSTEM_PROMPT)
    assert RETRIEVED_HEADING not in sent_text(model)
    record = memory.history("s")[-1].metadata["seen"]
    assert record["retrieved"] == [] and "recall" not in record
    with pytest.raises(mh.InvalidInput, match="recall must be"):
        run_turn(memory, "s", "q", model, recall=-1)


def test_templates_place_recall_with_retrieved_or_lead_their_history(memory):
    chat_about(memory)
    model = RecordingChat(responses=["Lisbon"])
    run_turn(memory, "s", "Which city do I live in?", model, recall=1,
             prompt="Old:\n{retrieved}\n---\n{chat_history}\nHuman: {human_input}\nAI:")
    (text,) = [m.content for m in model.calls[-1]]
    old, rest = text.split("\n---\n")
    assert old.startswith("Old:\n" + RETRIEVED_HEADING) and DATED.search(old)
    assert "Lisbon" not in rest
    run_turn(memory, "s", "Which city do I live in?", model, recall=1, prompt=SEED_TEMPLATE)
    (text,) = [m.content for m in model.calls[-1]]
    assert text.startswith(f"{SYSTEM_PROMPT}\n{RETRIEVED_HEADING}\n[")  # leads the history
    run_turn(memory, "s", "Which city do I live in?", model, recall=0, prompt=SEED_TEMPLATE)
    assert RETRIEVED_HEADING not in model.calls[-1][0].content


def test_langchain_prompts_take_retrieved_and_still_refuse_unknown_variables(memory):
    chat_about(memory)
    model = RecordingChat(responses=["Lisbon"])
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Be brief.\n{retrieved}"), MessagesPlaceholder("chat_history"),
        ("human", "{human_input}")])
    run_turn(memory, "s", "Which city do I live in?", model, recall=1, prompt=prompt)
    assert DATED.search(model.calls[-1][0].content)
    placeholder_only = ChatPromptTemplate.from_messages([
        MessagesPlaceholder("chat_history"), ("human", "{human_input}")])
    run_turn(memory, "s", "Which city do I live in?", model, recall=1, prompt=placeholder_only)
    assert model.calls[-1][0].content.startswith(RETRIEVED_HEADING)
    unknown = ChatPromptTemplate.from_messages([("human", "{unknown} {human_input}")])
    with pytest.raises(mh.InvalidInput, match="cannot fill: unknown"):
        run_turn(memory, "s", "q", model, recall=1, prompt=unknown)
    with pytest.raises(mh.InvalidInput, match="needs {human_input}"):
        run_turn(memory, "s", "q", model, recall=1, prompt="{retrieved} only")


@pytest.mark.parametrize("prompt", [None, SEED_TEMPLATE])
def test_seen_rebuilds_the_recalled_messages_exactly(memory, prompt):
    chat_about(memory)
    model = RecordingChat(responses=["Lisbon"])
    run_turn(memory, "s", "Which city do I live in?", model, recall=2, prompt=prompt)
    parts = seen(memory, "s")
    assert [p.content for p in parts] == [m.content for m in model.calls[-1]]
    assert "recalled #0" in parts[0].source
    assert DATED.search(parts[0].content)


def test_a_broken_search_never_fails_the_turn(memory, monkeypatch):
    chat_about(memory)

    def broken(*args, **kwargs):
        raise RuntimeError("index is on fire\nsecond line")

    monkeypatch.setattr(memory, "search_result", broken)
    notes = []
    model = RecordingChat(responses=["I do not know."])
    reply = run_turn(memory, "s", "Which city do I live in?", model, recall=3,
                     on_note=notes.append)
    assert reply == "I do not know." and memory.history("s")[-1].content == reply
    assert model.calls[-1][0] == SystemMessage(SYSTEM_PROMPT)
    assert notes == ["recall skipped (the search failed: RuntimeError: index is on fire); "
                     "answered without it"]
    record = memory.history("s")[-1].metadata["seen"]
    assert record["retrieved"] == []
    assert record["recall"] == {"k": 3, "skipped": "RuntimeError: index is on fire"}


# -- the notebook ----------------------------------------------------------------------


def cell(ip, body, flags=""):
    result = ip.run_cell(f"%%motorhead {flags}\n{body}")
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result.result


def fill(ip):
    memory = magics(ip).memory
    chat_about(memory, session="default", turns=8)  # past the default window of 12
    return memory


def test_config_recall_and_the_cell_flag(ip, chat):
    memory = fill(ip)
    assert magics(ip).recall == 0
    cell(ip, "Which city do I live in?")
    assert RETRIEVED_HEADING not in sent_text(chat)
    ip.run_line_magic("config", "MotorheadMagics.recall = 3")
    cell(ip, "Which city do I live in?")
    assert DATED.search(sent_text(chat))
    assert 0 in memory.history("default")[-1].metadata["seen"]["retrieved"]
    cell(ip, "Which city do I live in?", "--recall 0")  # the cell wins
    assert RETRIEVED_HEADING not in sent_text(chat)
    report = str(ip.run_line_magic("motorhead", "seen"))
    assert report.startswith("[system") and "recalled" not in report.splitlines()[0]
    cell(ip, "Which city do I live in?")
    report = str(ip.run_line_magic("motorhead", "seen"))
    assert re.search(r"^\[system( \+ summary v\d+)? \+ recalled #0(, #\d+)*\] system:", report)


def test_bad_recall_values_are_one_line_usage_errors(ip, chat):
    for flags in ("--recall -1", "--recall x", "--recall 1001"):
        result = ip.run_cell(f"%%motorhead {flags}\nhi")
        assert isinstance(result.error_in_exec, UsageError)
        assert "--recall" in str(result.error_in_exec) and "\n" not in str(result.error_in_exec)
    result = ip.run_cell("%config MotorheadMagics.recall = -2")
    assert isinstance(result.error_in_exec, UsageError)
    assert chat.calls == []


def test_a_broken_search_says_so_once_and_the_turn_is_stored(ip, chat, monkeypatch, capsys):
    memory = fill(ip)
    monkeypatch.setattr(memory, "search_result", lambda *a, **k: 1 / 0)
    ip.run_line_magic("config", "MotorheadMagics.recall = 2")
    reply = cell(ip, "Which city do I live in?")
    assert str(reply) == memory.history("default")[-1].content
    out = capsys.readouterr().out
    assert out.count("recall skipped") == 1 and "ZeroDivisionError" in out


def test_in_a_notebook_the_note_stays_as_the_status_line_above_the_reply(ip, chat, monkeypatch):
    from tests.magics.test_magics import _Displays

    memory = fill(ip)
    monkeypatch.setattr(memory, "search_result", lambda *a, **k: 1 / 0)
    shown, cleared = _Displays(), []
    monkeypatch.setattr(magics(ip).state, "kernel", True)
    monkeypatch.setattr("IPython.display.display", shown.display)
    monkeypatch.setattr("IPython.display.clear_output", lambda wait=False: cleared.append(1))
    reply = cell(ip, "Which city do I live in?", "--recall 2")
    last = shown.shown[-1]
    assert last["text/plain"].startswith("[recall skipped (the search failed: Zero")
    assert "⚠ recall skipped" in last["text/html"] and cleared == []  # kept, not cleared
    assert str(reply) == memory.history("default")[-1].content
    shown.shown.clear()
    cell(ip, "Which city do I live in?")  # recall 0: no search, no note, preview cleared
    assert cleared == [1] and not any("recall" in str(item) for item in shown.shown)


def test_recall_by_meaning_and_its_fallback_to_words_is_noted(sqlite_url):
    from tests.fakes import WordEmbeddings

    words = WordEmbeddings(dimension=1024)
    with mh.connect(sqlite_url, window_size=4, embeddings=words) as memory:
        memory.add("s", [{"role": "Human", "content": "My puppy is called Rex."},
                         {"role": "AI", "content": "Cute."}])
        chat_about(memory)
        memory.wait("s")
        model, notes = RecordingChat(responses=["Rex."]), []
        run_turn(memory, "s", "What is my hound called?", model, recall=1, on_note=notes.append)
        assert "Human: My puppy is called Rex." in model.calls[-1][0].content  # by meaning
        assert notes == []
        words.fail = True
        run_turn(memory, "s", "Where do I live?", model, recall=1, on_note=notes.append)
        assert notes and notes[0].startswith("recall: searched by words only")
        assert DATED.search(model.calls[-1][0].content)  # the words still found it
        record = memory.history("s")[-1].metadata["seen"]
        assert record["recall"]["note"].startswith("searched by words only")
