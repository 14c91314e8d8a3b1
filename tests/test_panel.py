"""The memory panel's widget model, in Python: what it holds and how it reacts.

Live updates are tested with ``min_interval=0`` so that every event renders in the
thread that made it (a fold renders in the fold worker before ``memory.wait()``
returns); coalescing is tested with a long interval and an explicit ``flush()``.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets
import pytest
from langchain_core.language_models import FakeListChatModel

import motorhead_magic as mh
from motorhead_magic.notebook.panel import Panel, render_text, widget_state_bytes
from motorhead_magic.notebook.panel_view import descendants
from tests.fakes import SummaryEcho


@pytest.fixture
def memory(sqlite_url: str):
    memory = mh.connect(sqlite_url, window_size=4, summarizer=SummaryEcho())
    yield memory
    memory.close()


@pytest.fixture
def plain_memory(sqlite_url: str):
    """No summarizer: nothing is folded, so older messages stay unsummarized."""
    memory = mh.connect(sqlite_url, window_size=4)
    yield memory
    memory.close()


@pytest.fixture
def panels():
    opened: list[Panel] = []

    def make(*args, **kwargs) -> Panel:
        kwargs.setdefault("min_interval", 0)
        panel = Panel(*args, **kwargs)
        opened.append(panel)
        return panel

    yield make
    for panel in opened:
        panel.close()


def turn(i: int) -> list[dict]:
    return [{"role": "Human", "content": f"question {i}"}, {"role": "AI", "content": f"answer {i}"}]


def fake_send(memory, replies: list[str]):
    model = FakeListChatModel(responses=replies)
    sent: list[tuple[str, str]] = []

    def send(session_id: str, text: str) -> str:
        sent.append((session_id, text))
        reply = model.invoke(text).content
        memory.add(session_id, [{"role": "Human", "content": text},
                                {"role": "AI", "content": reply}])
        return reply

    return send, sent


def test_panel_is_a_vbox_with_header_summary_window_and_controls(memory, panels) -> None:
    memory.add("s", turn(0))
    panel = panels(memory, "s", model_label="fake-model")
    assert isinstance(panel, widgets.VBox)
    assert isinstance(mh.Panel(memory, "s"), widgets.VBox)  # lazily exported
    assert "mhp-panel" in panel._dom_classes
    header = panel._header.value
    for text in ("<code>s</code>", memory.url, "fake-model", "<code>4</code>", "2 messages"):
        assert text in header
    assert "No summary yet." in panel._summary.value
    assert "question 0" in panel._window.value and "answer 0" in panel._window.value
    assert 'class="mhp-msg mhp-human"' in panel._window.value
    assert 'class="mhp-msg mhp-ai"' in panel._window.value
    assert panel._picker.options == ("s",) and panel._picker.value == "s"
    assert panel._pager.layout.display == "none"  # nothing older than the window
    kinds = {type(w).__name__ for w in descendants(panel)}
    assert {"HTML", "Dropdown", "Button", "Textarea", "Text"} <= kinds


def test_untrusted_content_is_escaped(memory, panels) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    memory.add("s", [{"role": "<b>Human</b>", "content": evil}])
    panel = panels(memory, "s", model_label="<i>m</i>")
    html_out = panel._window.value + panel._header.value
    assert "<script>" not in html_out and "<img" not in html_out and "<b>Human" not in html_out
    assert "&lt;script&gt;" in html_out and "&lt;i&gt;m&lt;/i&gt;" in html_out
    panel.stream("s", evil)
    assert "<script>" not in panel._streaming.value


def test_panel_updates_live_after_a_write_and_after_a_fold(memory, panels) -> None:
    panel = panels(memory, "s")
    memory.add("s", turn(0))
    assert "question 0" in panel._window.value  # no refresh() needed
    for i in range(1, 5):
        memory.add("s", turn(i))
    memory.wait("s")  # the fold worker rendered the panel before wait() returned
    summary = memory.get("s").summary
    assert summary is not None
    assert "covers messages #0–#" + str(summary.through_seq) in panel._summary.value
    assert "question 0" in panel._summary.value  # SummaryEcho echoes the folded lines
    assert "question 4" in panel._window.value and "question 0" not in panel._window.value
    assert "summarized" in panel._older.value and "question 0" in panel._older.value
    assert f"{len(memory.get('s').messages)} messages" in panel._header.value


def test_fold_renders_from_the_worker_thread(memory, panels) -> None:
    panel = panels(memory, "s")
    seen: list[tuple[str, str]] = []
    original = panel._render

    def spy() -> None:
        seen.append((threading.current_thread().name, panel._snapshot.session_id or ""))
        original()

    panel._render = spy
    for i in range(5):
        memory.add("s", turn(i))
    memory.wait("s")
    assert any(name.startswith("motorhead-fold") for name, _ in seen)


def test_updates_are_coalesced_and_flushed(plain_memory, panels) -> None:
    plain_memory.add("s", turn(0))
    panel = panels(plain_memory, "s", min_interval=3600)  # renders once, at creation
    assert "question 0" in panel._window.value
    for i in range(1, 4):
        plain_memory.add("s", turn(i))
    assert "question 1" not in panel._window.value  # held back by the throttle ...
    assert panel._timer is not None  # ... with exactly one flush scheduled
    panel.flush()
    assert "question 3" in panel._window.value
    assert panel._timer is None


def test_held_back_updates_land_by_themselves(plain_memory, panels) -> None:
    panel = panels(plain_memory, "s", min_interval=0.2)
    for i in range(5):
        panel.stream("s", f"partial {i}")
        plain_memory.add("s", turn(i))
    done = threading.Event()
    deadline = 60.0
    while not done.wait(0.05) and deadline > 0:
        deadline -= 0.05
        if "question 4" in panel._window.value and panel._timer is None:
            done.set()
    assert "question 4" in panel._window.value
    assert panel._streaming.value == ""  # the write after the last partial cleared it


def test_stream_shows_the_turn_in_progress_and_clears_when_stored(memory, panels) -> None:
    panel = panels(memory, "s")
    assert panel._streaming.layout.display == "none"
    panel.stream("other", "not for this panel")
    assert panel._streaming.value == ""
    for partial in ("Hel", "Hello wor", "Hello world"):
        panel.stream("s", partial)
    assert "Hello world" in panel._streaming.value and "replying" in panel._streaming.value
    assert panel._streaming.layout.display is None
    memory.add("s", [{"role": "Human", "content": "hi"}, {"role": "AI", "content": "Hello world"}])
    assert panel._streaming.value == ""
    assert "Hello world" in panel._window.value


def test_pagination_walks_older_messages(plain_memory, panels) -> None:
    plain_memory.add("s", [{"role": "Human", "content": f"m{i}"} for i in range(100)])
    panel = panels(plain_memory, "s", page_size=10)
    assert "#96" in panel._window.value and "#95" not in panel._window.value
    assert "older messages #86–#95 of 96" in panel._page_label.value
    assert "outside window, not summarized" in panel._older.value
    assert panel._older.value.count('class="mhp-msg') == 10
    assert panel._newer_button.disabled and not panel._older_button.disabled
    panel._older_button.click()
    assert "older messages #76–#85" in panel._page_label.value and "m76" in panel._older.value
    assert not panel._newer_button.disabled
    for _ in range(20):
        panel._older_button.click()
    assert "older messages #0–#9" in panel._page_label.value and panel._older_button.disabled
    panel._newer_button.click()
    assert "older messages #10–#19" in panel._page_label.value
    plain_memory.add("s", turn(0))  # a pinned page stays put when the window moves on
    assert "older messages #10–#19 of 98" in panel._page_label.value
    for _ in range(20):
        panel._newer_button.click()
    assert "older messages #88–#97 of 98" in panel._page_label.value
    assert panel.page_start is None  # back to following the newest page


def test_session_picker_switches_sessions(memory, panels) -> None:
    memory.add("a", turn(1))
    memory.add("b", turn(2))
    panel = panels(memory)
    assert panel.session_id == "b"  # the most recently written by default
    assert panel._picker.options == ("a", "b")
    panel._picker.value = "a"
    assert panel.session_id == "a" and "question 1" in panel._window.value
    memory.add("c", turn(3))
    assert panel._picker.options == ("a", "b", "c") and panel._picker.value == "a"


def test_unwritten_session_is_offered_and_empty(memory, panels) -> None:
    panel = panels(memory, "fresh")
    assert panel._picker.options == ("fresh",)
    assert "No messages in the window yet." in panel._window.value
    empty = panels(memory)
    assert empty.session_id is None and empty._delete_button.disabled


def test_delete_needs_confirmation(memory, panels) -> None:
    memory.add("s", turn(0))
    panel = panels(memory, "s")
    panel._delete_button.click()
    assert panel._confirm_box.layout.display is None
    assert "Delete session <b>s</b>" in panel._confirm_label.value
    assert memory.sessions() == ["s"]
    panel._cancel_button.click()
    assert panel._confirm_box.layout.display == "none" and memory.sessions() == ["s"]
    panel._delete_button.click()
    panel._confirm_button.click()
    assert memory.sessions() == [] and memory.history("s") == []
    assert "Deleted session 's'" in panel._status.value
    assert "No messages in the window yet." in panel._window.value


def test_export_puts_a_dataframe_into_the_namespace(memory, panels) -> None:
    memory.add("s", turn(0) + turn(1))
    namespace: dict = {}
    panel = panels(memory, "s", namespace=namespace)
    panel._export_name.value = "class"
    panel._export_button.click()
    assert namespace == {} and "not a valid Python variable name" in panel._status.value
    panel._export_name.value = "chat_df"
    panel._export_button.click()
    frame = namespace["chat_df"]
    assert list(frame["content"]) == ["question 0", "answer 0", "question 1", "answer 1"]
    assert list(frame.columns) == list(memory.to_dataframe("s").columns)
    assert "chat_df = DataFrame" in panel._status.value and "(4 rows)" in panel._status.value


def test_export_uses_the_ipython_user_namespace(memory, panels) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        memory.add("s", turn(0))
        panel = panels(memory, "s")
        panel._export_button.click()
        assert len(shell.user_ns["df"]) == 2
    finally:
        InteractiveShell.clear_instance()


def test_send_runs_a_turn_and_shows_it(memory, panels) -> None:
    send, sent = fake_send(memory, ["Hi Bob!"])
    panel = panels(memory, "s", send=send)
    assert not panel._send_button.disabled and not panel._prompt.disabled
    panel._send_button.click()
    assert sent == [] and "Type a message first." in panel._status.value
    panel._prompt.value = "hi im bob"
    panel._send_button.click()
    assert sent == [("s", "hi im bob")]
    assert panel._prompt.value == "" and panel._status.value == ""
    assert "hi im bob" in panel._window.value and "Hi Bob!" in panel._window.value
    assert panel._streaming.value == ""


def test_send_failure_keeps_the_text_and_stores_nothing(memory, panels) -> None:
    def broken(session_id: str, text: str) -> str:
        raise RuntimeError("model is down")

    panel = panels(memory, "s", send=broken)
    panel._prompt.value = "hello?"
    panel._send_button.click()
    assert "Send failed: RuntimeError: model is down" in panel._status.value
    assert panel._prompt.value == "hello?" and not panel._send_button.disabled
    assert memory.history("s") == [] and panel._streaming.value == ""


def test_without_send_the_prompt_is_disabled_with_a_hint(memory, panels) -> None:
    panel = panels(memory, "s")
    assert panel._send_button.disabled and panel._prompt.disabled
    assert "Sending needs a chat model" in panel._send_hint.value


def test_close_unsubscribes(memory) -> None:
    panel = Panel(memory, "s", min_interval=0)
    panel.close()
    memory.add("s", turn(0))
    assert memory._listeners == []
    assert "question 0" not in panel._window.value


def test_many_threads_writing_at_once_end_in_one_consistent_render(plain_memory, panels) -> None:
    panel = panels(plain_memory, "s", min_interval=0.01)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                plain_memory.add("s", [{"role": "Human", "content": f"t{n}-{i}"}])
                panel.stream("s", f"partial {n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    panel.flush()
    assert errors == [] and panel._status.value == ""
    assert "60 messages" in panel._header.value
    last = plain_memory.history("s")[-1]
    assert f">{last.content}<" in panel._window.value


def test_widget_state_stays_flat_past_one_page(plain_memory, panels) -> None:
    sizes = {}
    for count in (100, 10_000):
        sid = f"s{count}"
        plain_memory.add(sid, [{"role": "Human" if i % 2 else "AI", "content": f"message {i:05}"}
                               for i in range(count)])
        sizes[count] = widget_state_bytes(panels(plain_memory, sid))
    assert sizes[10_000] < sizes[100] * 1.05
    assert sizes[10_000] < 200_000


def test_a_huge_message_is_cut_in_the_panel(plain_memory, panels) -> None:
    plain_memory.add("s", [{"role": "AI", "content": "x" * 1_000_000}])
    panel = panels(plain_memory, "s")
    assert len(panel._window.value) < 10_000
    assert "998,000 more characters" in panel._window.value


def test_render_text_for_terminals(memory) -> None:
    for i in range(5):
        memory.add("s", turn(i))
    memory.wait()
    text = render_text(memory, "s")
    assert text.startswith("motorhead session: s\n")
    assert f"backend: {memory.url} · window size: 4" in text
    assert "10 messages" in text and "-- summary (through #" in text
    assert "#9 AI" in text and "answer 4" in text
    assert "older not shown" in text and "question 0 / AI: answer 0" in text
    assert "#0 Human" not in text
    assert "#0 Human" in render_text(memory, "s", older=100)
    assert "(empty)" in render_text(memory, "nobody")
    assert "motorhead session: (none)" in render_text(memory, None)


def test_live_updates_on_every_backend(memory_factory, backend: str, panels) -> None:
    """Every backend: the panel follows writes and folds the same way, except that a
    remote server does not push its folds, which then show on the next write or refresh."""
    memory = memory_factory(window_size=4, summarizer="echo")
    panel = panels(memory, "s")
    for i in range(5):
        memory.add("s", turn(i))
    assert "question 4" in panel._window.value
    memory.wait("s")
    if backend == "remote":
        panel.refresh()
    through = memory.get("s").summary.through_seq
    assert f"covers messages #0–#{through}" in panel._summary.value
    assert "question 4" in panel._window.value and "10 messages" in panel._header.value
    panel._older_button.click()
    assert "older messages #0–#" in panel._page_label.value
