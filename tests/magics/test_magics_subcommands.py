"""Every ``%motorhead`` subcommand, its ``--help``, and the errors around them."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError
from langchain_core.messages import SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from motorhead_magic.notebook.commands import SUBCOMMANDS
from motorhead_magic.notebook.render import MemoryReport
from tests.conftest import free_port
from tests.fakes import SummaryEcho
from tests.magics.conftest import RecordingChat, magics


def line(ip, text: str):
    return ip.run_line_magic("motorhead", text)


def turn(ip, text: str, flags: str = ""):
    return ip.run_cell_magic("motorhead", flags, text)


@pytest.mark.parametrize("text", ["", "help", "--help"])
def test_help_overview(ip, capsys, text):
    assert line(ip, text) is None
    out = capsys.readouterr().out
    assert "%%motorhead [--session ID]" in out
    for name in SUBCOMMANDS:
        assert f"  {name}" in out


@pytest.mark.parametrize("name", [n for n in SUBCOMMANDS if n != "help"])
def test_every_subcommand_has_help(ip, capsys, name):
    assert line(ip, f"{name} --help") is None
    out = capsys.readouterr().out
    assert out.startswith(f"usage: %motorhead {name}")
    assert SUBCOMMANDS[name].split(" (")[0][:30] in " ".join(out.split())


@pytest.mark.parametrize("text, needle", [
    ("bogus", "unknown subcommand 'bogus'"),
    ("export --bogus", "%motorhead export: unrecognized arguments: --bogus"),
    ("sessions extra", "unrecognized arguments: extra"),
    ("wait --timeout soon", "invalid float value"),
    ("export -o 'not a name'", "not a valid variable name"),
    ("session a b", "unrecognized arguments: b"),
    ("session ''", "session id must be a non-empty string"),
    ("connect ftp://example.com", "unknown URL scheme 'ftp'"),
    ("connect sqlite://attackhost/data/x.db", "SQLite URL takes no host"),
    ("wait --timeout inf", "timeout must be a finite number"),
    ("wait --timeout nan", "timeout must be a finite number"),
    ("session 'bad \udc00 id'", "lone surrogate"),
    ("export --session ''", "session id must be a non-empty string"),
])
def test_bad_input_is_one_short_usage_error(ip, text, needle):
    result = ip.run_cell(f"%motorhead {text}")
    assert isinstance(result.error_in_exec, UsageError), text
    assert needle in str(result.error_in_exec)
    assert "\n" not in str(result.error_in_exec)
    assert ip.run_cell("2 * 21").result == 42  # the shell goes on


def test_an_empty_session_flag_is_refused_not_ignored(ip, chat):
    """Before: ``--session ""`` silently used the bound session."""
    result = ip.run_cell('%%motorhead --session ""\nhello')
    assert isinstance(result.error_in_exec, UsageError)
    assert "session id must be a non-empty string" in str(result.error_in_exec)
    assert magics(ip).memory.sessions() == []


def test_session_binds_and_shows(ip, chat, capsys):
    line(ip, "session")
    assert "bound to session 'default'" in capsys.readouterr().out
    line(ip, "session bob")
    assert "'bob' (new: created on the first turn)" in capsys.readouterr().out
    turn(ip, "hi im bob")
    assert magics(ip).memory.sessions() == ["bob"]
    line(ip, "session bob")
    assert "'bob' (2 messages)" in capsys.readouterr().out
    ip.run_line_magic("config", "MotorheadMagics.session = 'alice'")
    assert magics(ip).current_session == "alice"


def test_memory_shows_summary_and_window(ip, chat):
    ip.user_ns["summarizer"] = SummaryEcho()
    ip.run_line_magic("config", "MotorheadMagics.window_size = 2")
    ip.run_line_magic("config", "MotorheadMagics.summary_model = 'summarizer'")
    empty = line(ip, "memory")
    assert isinstance(empty, MemoryReport) and "(no messages yet)" in str(empty)
    turn(ip, "hi im bob")
    turn(ip, "whats my name?")
    line(ip, "wait")
    report = line(ip, "memory")
    text = str(report)
    assert "session 'default': 4 messages, window shows 1 (window size 2)" in text
    assert "Human: hi im bob / AI: Hi Bob, nice to meet you. / Human: whats my name?" in text
    assert "[3] AI: Your name is Bob." in text
    markdown, metadata = report._repr_markdown_()
    assert "**Summary**" in markdown and "> Your name is Bob." in markdown
    assert metadata == {"motorhead": {"session_id": "default"}}
    data, _ = ip.display_formatter.format(report)
    assert data["text/plain"] == text


def test_export_and_sessions_are_dataframes(ip, chat):
    turn(ip, "hi im bob")
    turn(ip, "hello", "--session other")
    assert line(ip, "export -o df") is None  # -o stores quietly (before: it also printed)
    frame = ip.user_ns["df"]
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["session_id", "seq", "role", "content", "tokens",
                                   "created_at", "summarized", "metadata"]
    assert frame["content"].tolist() == ["hi im bob", "Hi Bob, nice to meet you."]
    assert frame["metadata"].iloc[1]["model"] == "chat (RecordingChat)"
    assert sorted(line(ip, "export --all")["session_id"].unique()) == ["default", "other"]
    assert line(ip, "export --session other")["content"].tolist()[0] == "hello"
    summaries = line(ip, "export --summaries")
    assert list(summaries.columns)[:3] == ["session_id", "through_seq", "context"]
    assert summaries.empty
    assert line(ip, "sessions -o s") is None
    sessions = ip.user_ns["s"]
    assert sessions["session_id"].tolist() == ["other", "default"]  # newest first
    assert line(ip, "sessions")["session_id"].tolist() == ["other", "default"]


@pytest.mark.parametrize(("text", "needle"), [
    ("%config MotorheadMagics.window_size = 0", "should not be less than 1"),
    ("%config MotorheadMagics.windowsize = 3", "did you mean 'window_size'?"),
    ("%config MotorheadMagics.stream = 'maybe'", "expected a boolean"),
])
def test_a_bad_config_value_fails_the_cell(ip, text, needle):
    """Before: IPython's %config only logged the error, and the cell succeeded."""
    result = ip.run_cell(text)
    assert isinstance(result.error_in_exec, UsageError) and not result.success
    assert needle in str(result.error_in_exec)
    assert ip.run_cell("%config MotorheadMagics.window_size = 5").success
    assert magics(ip).window_size == 5


def test_delete(ip, chat, capsys):
    turn(ip, "hi im bob")
    turn(ip, "hello", "--session other")
    line(ip, "delete other")
    assert "deleted session 'other' (2 messages)" in capsys.readouterr().out
    line(ip, "delete")  # the bound session
    assert magics(ip).memory.sessions() == []
    capsys.readouterr()
    line(ip, "delete ghost")
    assert "no session 'ghost': nothing deleted" in capsys.readouterr().out


def test_missing_session_reads_as_empty(ip, chat):
    assert line(ip, "memory --session ghost").view.messages == []
    assert line(ip, "export --session ghost").empty
    assert turn(ip, "hi", "--session ghost") == "Hi Bob, nice to meet you."  # created now


def test_model_subcommand(ip, chat, capsys):
    line(ip, "model")
    assert "model: chat (RecordingChat)" in capsys.readouterr().out
    ip.user_ns["number"] = 42
    with pytest.raises(UsageError, match="variable 'number' holds a int, not a LangChain"):
        line(ip, "model number")
    ip.user_ns["other"] = RecordingChat(responses=["other"])
    line(ip, "model other")
    assert turn(ip, "q") == "other"
    line(ip, "model local") if _local() else None
    line(ip, "model --reset")
    with pytest.raises(UsageError, match="three ways") if not _local() else _nothing():
        line(ip, "model")


def _local() -> bool:
    from motorhead_magic.chat.local import local_available

    return local_available()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_prompt_text_variable_chat_template_and_reset(ip, chat, capsys):
    line(ip, r"prompt Be brief. {context}\nPast:\n{chat_history}\nQ: {human_input} {json: 1}")
    turn(ip, "hi im bob")
    turn(ip, "whats my name?")
    (message,) = chat.calls[-1]
    assert message.content == ("Be brief. \nPast:\nHuman: hi im bob\n"
                               "AI: Hi Bob, nice to meet you.\nQ: whats my name? {json: 1}")
    ip.user_ns["chat_prompt"] = ChatPromptTemplate.from_messages([
        ("system", "Pirate. Summary: {context}"), MessagesPlaceholder("chat_history"),
        ("human", "{human_input}")])
    line(ip, "prompt chat_prompt")
    turn(ip, "ahoy {x}")
    sent = chat.calls[-1]
    assert sent[0] == SystemMessage("Pirate. Summary: ")
    assert [m.content for m in sent[1:]] == ["hi im bob", "Hi Bob, nice to meet you.",
                                             "whats my name?", "Your name is Bob.", "ahoy {x}"]
    capsys.readouterr()
    line(ip, "prompt")
    assert "ChatPromptTemplate" in capsys.readouterr().out
    line(ip, "prompt --reset")
    turn(ip, "plain")
    assert chat.calls[-1][0].content.startswith("You are a chatbot")
    ip.user_ns["bad"] = "no placeholders here"
    for text, needle in [("prompt bad", "needs {human_input}"),
                         ("prompt just words", "needs {human_input}"),
                         ("prompt nosuchvar", "no variable 'nosuchvar'")]:
        with pytest.raises(UsageError, match=needle):
            line(ip, text)
    ip.run_line_magic("config", "MotorheadMagics.prompt = 'Say hi. {human_input}'")
    turn(ip, "x")
    assert chat.calls[-1][0].content == "Say hi. x"


def test_connect_switches_backends(ip, chat, tmp_path, capsys):
    turn(ip, "in the default store")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    line(ip, f"connect {other}")
    out = capsys.readouterr().out
    assert "connected to sqlite:" in out and "other.db (0 sessions)" in out
    assert line(ip, "export").empty
    turn(ip, "in the other store")
    line(ip, "connect")  # back to MOTORHEAD_URL
    assert line(ip, "export")["content"].tolist()[0] == "in the default store"
    port = free_port()
    with pytest.raises(UsageError, match=f"127.0.0.1:{port}.*[Cc]onnection refused"):
        line(ip, f"connect redis://127.0.0.1:{port}/0")
    assert line(ip, "export")["content"].tolist()[0] == "in the default store"


def test_connect_to_real_redis(ip, chat, redis_url):
    line(ip, f"connect {redis_url}")
    turn(ip, "hi im bob")
    import motorhead_magic as mh

    with mh.connect(redis_url) as direct:
        assert [m.content for m in direct.history("default")] == [
            "hi im bob", "Hi Bob, nice to meet you."]


def test_window_size_config_reconnects(ip, chat):
    for text in ["one", "two", "three"]:
        turn(ip, text)
    assert len(line(ip, "memory").view.messages) == 6
    ip.run_line_magic("config", "MotorheadMagics.window_size = 2")
    ip.run_line_magic("config", "MotorheadMagics.summary_model = 'none'")
    assert magics(ip).memory.summarizer is None
    assert [m.content for m in line(ip, "memory").view.messages] == ["three", "How about pasta?"]
    ip.run_line_magic("config", "MotorheadMagics.window_size = 0")  # refused (logged)
    assert magics(ip).window_size == 2


def test_wait(ip, chat, capsys):
    ip.user_ns["summarizer"] = SummaryEcho(fail=True)
    ip.run_line_magic("config", "MotorheadMagics.window_size = 2")
    ip.run_line_magic("config", "MotorheadMagics.summary_model = 'summarizer'")
    turn(ip, "one")
    turn(ip, "two")
    capsys.readouterr()
    line(ip, "wait --timeout 60")
    out = capsys.readouterr().out
    assert "0 summaries; summary of default failed (summary model failed" in out
    assert "retrying in" in out


def test_wait_shows_the_progress_while_it_waits(ip, chat, capsys):
    """Before: %motorhead wait blocked silently however long the fold took."""
    ip.user_ns["summarizer"] = SummaryEcho(delay=1.2)
    ip.run_line_magic("config", "MotorheadMagics.window_size = 2")
    ip.run_line_magic("config", "MotorheadMagics.summary_model = 'summarizer'")
    turn(ip, "one")
    turn(ip, "two")
    capsys.readouterr()
    line(ip, "wait --timeout 60")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("summarizing default, chunk 1/1")
    assert out[-1] == "session 'default': 1 summaries"


def test_panel_in_a_terminal_prints_text(ip, chat, capsys):
    turn(ip, "hi im bob")
    capsys.readouterr()
    assert line(ip, "panel") is None
    out = capsys.readouterr().out
    assert "hi im bob" in out and "Hi Bob, nice to meet you." in out


def test_panel_in_a_kernel_gets_the_stream(ip, chat, monkeypatch):
    from motorhead_magic.notebook import panel as panel_module

    monkeypatch.setattr(magics(ip).state, "kernel", True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    panel = line(ip, "panel")
    assert isinstance(panel, panel_module.Panel) and magics(ip).panels == [panel]
    seen = []
    original = panel.stream
    monkeypatch.setattr(panel, "stream", lambda sid, text: (seen.append((sid, text)),
                                                            original(sid, text)))
    monkeypatch.setattr("motorhead_magic.notebook.render.STREAM_INTERVAL", 0.0)
    turn(ip, "hi im bob")
    assert seen[0] == ("default", "Hi") and seen[-1] == ("default", "Hi Bob, nice to meet you.")
    assert panel.model_label == "chat (RecordingChat)"
    panel._send_turn("default", "from the panel")  # the panel's Send runs a real turn
    assert [m.content for m in magics(ip).memory.history("default")][-2:] == [
        "from the panel", "Your name is Bob."]
    panel.close()


def test_panel_opens_without_a_model_and_send_says_why(ip, monkeypatch):
    from motorhead_magic.notebook import panel as panel_module

    monkeypatch.setattr("motorhead_magic.chat.models.local_available", lambda: False)
    monkeypatch.setattr(magics(ip).state, "kernel", True)
    panel = line(ip, "panel")
    assert isinstance(panel, panel_module.Panel)
    assert panel.model_label.startswith("none (no chat model configured")
    panel._prompt.value = "hello?"
    panel._on_send()
    assert "three ways" in panel._status.value or "choose a model" in panel._status.value
    assert panel._prompt.value == "hello?"  # nothing typed is lost
    assert magics(ip).memory.history("default") == []
    panel.close()


@pytest.mark.parametrize(("typed", "line", "expected"), [
    ("ses", "%motorhead ses", ["session", "sessions"]),
    ("--se", "%motorhead export --se", ["--session"]),
    ("--al", "%motorhead export --al", ["--all"]),
    ("--no", "%%motorhead --no", ["--no-stream"]),
    ("mod", "%motorhead mod", ["model", "models"]),
])
def test_tab_completes_subcommands_and_flags(ip, typed, line, expected):
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():  # the API Jupyter's kernel uses
        found = [c.text for c in ip.Completer.completions(line, len(line))]
    assert set(expected) <= set(found)  # beside IPython's own (Python names)


def test_open_panels_follow_reconnects_and_the_model(ip, chat, monkeypatch, tmp_path):
    """Before: a %config change or %motorhead connect closed the panel's memory and
    dropped it from the live list; it showed the old window size and froze."""
    from motorhead_magic.notebook import panel as panel_module

    monkeypatch.setattr(magics(ip).state, "kernel", True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    panel = line(ip, "panel")
    assert isinstance(panel, panel_module.Panel)
    ip.run_line_magic("config", "MotorheadMagics.window_size = 6")
    assert panel.memory is magics(ip).memory and panel.memory.window_size == 6
    assert "6" in panel._header.value
    turn(ip, "hi im bob")  # the panel hears the new memory's writes
    panel.flush()
    assert "hi im bob" in panel._window.value
    other = f"sqlite:///{tmp_path / 'other.db'}"
    line(ip, f"connect {other}")
    assert panel.memory is magics(ip).memory and panel.memory.url.endswith("other.db")
    assert "hi im bob" not in panel._window.value  # a different store
    ip.user_ns["second"] = RecordingChat(responses=["Ahoy"])
    line(ip, "model second")
    panel.refresh()
    assert panel.model_label == "second (RecordingChat)"
    panel.close()
    ip.run_line_magic("config", "MotorheadMagics.window_size = 7")
    assert magics(ip).panels == []  # a closed panel is let go
