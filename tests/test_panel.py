"""The memory panel's widget model, in Python: what it holds and how it reacts.

Live updates are tested with ``min_interval=0`` so that every event renders in the
thread that made it (a fold renders in the fold worker before ``memory.wait()``
returns); coalescing is tested with a long interval and an explicit ``flush()``.
"""

from __future__ import annotations

import re
import threading
import time

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


def header_text(panel: Panel) -> str:
    return re.sub(r"<[^>]+>", "", panel._header.value)


def test_a_fork_shows_its_lineage_and_its_parent_is_one_click_away(plain_memory, panels) -> None:
    for i in range(4):
        plain_memory.add("band", turn(i))
    plain_memory.fork("band", "band take 2", at=5)
    panel = panels(plain_memory, "band take 2")
    assert "fork of band at #5" in header_text(panel)
    assert "fork of band at #5" in render_text(plain_memory, "band take 2")
    button = panel._parent_button
    assert button.layout.display is None and not button.disabled
    assert "band" in button.description and "band" in button.tooltip
    assert "answer 2" in panel._window.value and "answer 3" not in panel._window.value

    button.click()  # shows the parent, as the picker would
    assert panel.session_id == "band" and panel._picker.value == "band"
    assert "answer 3" in panel._window.value
    assert "fork of" not in header_text(panel)  # the parent is no fork: nothing extra
    assert button.layout.display == "none"
    assert "fork of" not in render_text(plain_memory, "band")

    panel._picker.value = "band take 2"  # a fork of a deleted session still says whose
    plain_memory.delete("band")
    panel.refresh()
    assert "fork of band at #5 (session band no longer exists)" in header_text(panel)
    assert button.layout.display is None and button.disabled
    button.click()
    assert panel.session_id == "band take 2"


def test_sessions_that_are_no_fork_show_no_lineage(memory, panels) -> None:
    memory.add("solo", turn(0))
    panel = panels(memory, "solo")
    assert "fork of" not in header_text(panel) and "mhp-lineage" not in panel._header.value
    assert panel._parent_button.layout.display == "none"
    assert "fork of" not in render_text(memory, "solo")


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
    assert "session s was deleted" in panel._window.value
    assert "question 0" not in panel._window.value + panel._older.value


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


# -- the look: theme variables, a bounded chat view ------------------------------------

_JP_VAR = re.compile(r"var\(--jp-[\w-]+(?:,\s*(?:[^()]|\([^()]*\))*)?\)")
_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?)\(|\b(?:white|black|gr[ae]y)\b(?!-)",
                     re.IGNORECASE)


def styles_of(panel: Panel) -> list[str]:
    """Every piece of CSS the panel sends: its stylesheet, inline style attributes and
    the layout traits of all its widgets."""
    found = []
    for widget in descendants(panel):
        value = getattr(widget, "value", None)
        if isinstance(value, str):
            found += re.findall(r"<style>(.*?)</style>", value, re.DOTALL)
            found += re.findall(r'style="([^"]*)"', value)
        if isinstance(widget, widgets.Layout):
            found += [str(v) for k, v in widget.get_state().items()
                      if isinstance(v, str) and not k.startswith("_")]
    return found


def test_colours_are_jupyterlab_theme_variables_with_light_fallbacks(memory, panels) -> None:
    memory.add("s", turn(0) + [{"role": "system", "content": "be brief"}])
    for i in range(1, 5):
        memory.add("s", turn(i))
    memory.wait("s")
    panel = panels(memory, "s", model_label="m")
    panel.stream("s", "partial")
    panel._delete_button.click()
    panel._set_status("an error", error=True)
    css = "\n".join(styles_of(panel))
    for var in ("--jp-layout-color1", "--jp-ui-font-color1", "--jp-brand-color1",
                "--jp-border-color2", "--jp-content-font-size1"):
        assert f"var({var}, " in css  # each with a fallback for other frontends
    hard_coded = _COLOUR.findall(_JP_VAR.sub("", css))
    assert hard_coded == []  # every colour is a theme variable (fallbacks inside var())
    for value in (panel._window.value, panel._older.value, panel._summary.value,
                  panel._header.value, panel._streaming.value, panel._status.value):
        assert "style=" not in value  # classes only: the stylesheet says how they look
    assert 'class="mhp-msg mhp-other' in panel._window.value + panel._older.value


def test_a_compact_chat_view_scrolls_and_keeps_the_input_below(plain_memory, panels) -> None:
    plain_memory.add("s", [{"role": "Human" if i % 2 == 0 else "AI", "content": f"m{i}"}
                           for i in range(40)])
    panel = panels(plain_memory, "s", send=lambda sid, text: "")
    scroll = panel._scroll
    assert scroll.layout.max_height == "420px" and scroll.layout.overflow == "auto"
    assert scroll.layout.flex_flow == "column-reverse"  # sticks to the newest message
    inside = set(map(id, descendants(scroll)))
    for part in (panel._older, panel._summary, panel._window, panel._streaming):
        assert id(part) in inside
    for control in (panel._prompt, panel._send_button, panel._header, panel._pager):
        assert id(control) not in inside
    order = [id(c) for c in panel.children]
    prompt_row = next(c for c in panel.children
                      if panel._send_button in getattr(c, "children", ()))
    assert order.index(id(scroll)) < order.index(id(prompt_row))  # input right below it
    body = scroll.children[0]
    assert body.layout.flex == "0 0 auto"  # the box scrolls, not the column inside it
    assert panel._export_button.layout.width == "auto"  # its label is never cut
    assert all(b.layout.width == "auto" for b in descendants(panel)
               if isinstance(b, widgets.Button))


def test_first_and_last_page_in_one_click(plain_memory, panels) -> None:
    plain_memory.add("s", [{"role": "Human", "content": f"m{i}"} for i in range(10_000)])
    panel = panels(plain_memory, "s")
    assert "older messages #9,976–#9,995 of 9,996" in panel._page_label.value
    assert panel._last_button.disabled and not panel._first_button.disabled
    panel._first_button.click()
    assert "older messages #0–#19 of 9,996" in panel._page_label.value
    assert 'data-seq="0"' in panel._older.value and panel.page_start == 0
    assert panel._first_button.disabled and panel._older_button.disabled
    assert not panel._last_button.disabled and not panel._newer_button.disabled
    panel._newer_button.click()
    assert "older messages #20–#39" in panel._page_label.value
    panel._last_button.click()
    assert "older messages #9,976–#9,995" in panel._page_label.value
    assert panel.page_start is None  # following the window again
    descriptions = [b.description for b in panel._pager.children
                    if isinstance(b, widgets.Button)]
    assert descriptions == ["|◀", "◀", "▶", "▶|"]


def test_a_deleted_session_says_so_and_shows_nothing_stale(memory, panels) -> None:
    for i in range(5):
        memory.add("s", turn(i))
    memory.wait("s")
    panel = panels(memory, "s")
    assert "answer 4" in panel._window.value
    memory.delete("s")  # e.g. from a cell, or another panel
    assert "session s was deleted" in panel._header.value
    assert "session s was deleted" in panel._window.value
    shown = "".join(w.value for w in descendants(panel) if isinstance(w, widgets.HTML))
    assert "question" not in shown and "answer" not in shown
    assert panel._pager.layout.display == "none" and panel._export_button.disabled
    assert "session s was deleted" in panel._repr_mimebundle_()["text/plain"]
    memory.add("s", turn(7))  # written again: a new conversation under the same id
    assert "was deleted" not in panel._header.value and "question 7" in panel._window.value


def test_a_session_deleted_elsewhere_shows_as_deleted_on_refresh(sqlite_url, panels) -> None:
    mine = mh.connect(sqlite_url, window_size=4)
    other = mh.connect(sqlite_url, window_size=4)  # no events reach `mine` from here
    try:
        mine.add("s", turn(0))
        fresh = panels(mine, "fresh")  # never written: empty, not "deleted"
        panel = panels(mine, "s")
        other.delete("s")
        panel.refresh()
        assert "session s was deleted" in panel._header.value
        assert "question 0" not in panel._window.value
        fresh.refresh()
        assert "was deleted" not in fresh._header.value + fresh._window.value
    finally:
        other.close()
        mine.close()


def test_plain_text_where_widgets_cannot_render(memory, panels) -> None:
    from IPython.core.formatters import DisplayFormatter

    for i in range(5):
        memory.add("s", turn(i))
    memory.wait("s")
    panel = panels(memory, "s")
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == render_text(memory, "s")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    data, _ = DisplayFormatter().format(panel)  # what IPython puts in the notebook
    assert data["text/plain"].startswith("motorhead session: s\n")
    assert "answer 4" in data["text/plain"] and "Panel(children" not in data["text/plain"]
    memory.close()  # a panel on a closed memory still says what it is
    assert "session s" in panel._repr_mimebundle_()["text/plain"]


def test_follow_points_an_open_panel_at_a_new_memory(sqlite_url, panels) -> None:
    old = mh.connect(sqlite_url, window_size=4)
    old.add("s", turn(0))
    labels = ["model-a"]
    panel = panels(old, "s", model_label=lambda: labels[0])
    assert "<code>4</code>" in panel._header.value and "model-a" in panel._header.value
    assert panel.model_label == "model-a"
    new = mh.connect(sqlite_url, window_size=6)  # e.g. %config MotorheadMagics.window_size
    old.close()
    labels[0] = "model-b"
    try:
        panel.follow(new)
        assert old._listeners == [] and len(new._listeners) == 1
        assert panel.memory is new
        assert "<code>6</code>" in panel._header.value and "model-b" in panel._header.value
        assert "at most 6" in panel._window_label.value
        new.add("s", turn(1))  # live again, through the new memory
        assert "question 1" in panel._window.value and "4 messages" in panel._header.value
        panel.model_label = "fixed"
        panel.refresh()
        assert "fixed" in panel._header.value
        panel.follow(new, "t")
        assert panel.session_id == "t" and len(new._listeners) == 1
    finally:
        new.close()


def test_a_broken_model_label_does_not_break_the_panel(memory, panels) -> None:
    def broken() -> str:
        raise RuntimeError("no model")

    panel = panels(memory, "s", model_label=broken)
    assert "RuntimeError: no model" in panel._header.value


_GATE = threading.Event()


class GatedSummary(SummaryEcho):
    """Waits for ``_GATE`` before each summary, so a fold can be seen in progress."""

    def _generate(self, *args, **kwargs):
        _GATE.wait(30)
        return super()._generate(*args, **kwargs)


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_header_shows_background_work_until_the_fold_lands(sqlite_url, panels) -> None:
    _GATE.clear()
    memory = mh.connect(sqlite_url, window_size=4, summarizer=GatedSummary())
    try:
        panel = panels(memory, "s")
        panel.progress_interval = 0.05
        for i in range(3):  # 6 messages > window 4: one fold, held at the gate
            memory.add("s", turn(i))
        assert wait_until(lambda: "mhp-progress" in panel._header.value)
        assert "summarizing s, chunk 1/1 (" in panel._header.value
        assert "0 summaries" in panel._header.value
        assert "background: summarizing s" in panel._repr_mimebundle_()["text/plain"]
        _GATE.set()
        memory.wait("s")
        assert wait_until(lambda: "mhp-progress" not in panel._header.value)
        assert "1 summary" in panel._header.value
        assert "covers messages #0–#" in panel._summary.value
        assert wait_until(lambda: panel._progress_timer is None)  # no more looking
    finally:
        _GATE.set()
        memory.close()


def test_the_header_shows_the_last_turns_tokens_and_time(plain_memory, panels) -> None:
    """Issue 14: the panel shows what the last turn cost (from its ledger)."""
    from langchain_core.language_models import FakeListChatModel

    from motorhead_magic.chat.turn import run_turn

    run_turn(plain_memory, "s", "hi", FakeListChatModel(responses=["hello there"]))
    panel = panels(plain_memory, "s")
    last = plain_memory.history("s")[-1].metadata
    assert (f"last turn: {last['input_tokens']:,} in / {last['output_tokens']:,} out tokens"
            in panel._header.value)
    assert "tokens spent summarizing" in panel._header.value
    created = plain_memory.history("s")[-1].created_at.astimezone()
    assert created.strftime("%Y-%m-%d %H:%M:%S %Z") in panel._window.value  # local time
