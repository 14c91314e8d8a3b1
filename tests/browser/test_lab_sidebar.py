"""The "Motörhead" sidebar in a real JupyterLab and Chromium: list, open, search (by
name and by message content, opening a session at the matching message), the session
view (at the newest message, refreshing itself, what the store knows), "Open in
notebook" and the palette's cell, Markdown highlighting of the cell, delete, palette,
themes."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from tests.browser.conftest import Lab, shot
from tests.fakes import SummaryEcho

pytestmark = pytest.mark.browser

SIDEBAR_TAB = '.jp-SideBar .lm-TabBar-tab[data-id="motorhead-magic-sidebar"]'
# The sidebar widget itself, to run one poll now instead of waiting for its timer.
SIDEBAR_JS = ("[...window.jupyterapp.shell.widgets('left')]"
              ".find(w => w.id === 'motorhead-magic-sidebar')")
LOG_AT_END = ("() => { const l = document.querySelector('.mh-message-list');"
              " return l.scrollHeight - l.scrollTop - l.clientHeight <= 2; }")


def item(session_id: str) -> str:
    return f'.mh-session-item[data-session-id="{session_id}"]'


def open_sidebar(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('motorhead:open-sidebar')")
    page.wait_for_selector(".mh-sidebar .mh-session-list", state="visible")


def seed_chat(lab: Lab, session_id: str, turns: int = 4, first: int = 0) -> None:
    """A session with real folds (by the fake summarizer) and a window."""
    import motorhead_magic as mh

    memory = mh.connect(lab.store_url, window_size=4, summarizer=SummaryEcho())
    try:
        for i in range(first, first + turns):
            memory.add(session_id, [{"role": "Human", "content": f"question {i}"},
                                    {"role": "AI", "content": f"answer {i}"}])
            memory.wait(session_id)
    finally:
        memory.close()


def open_session(page: Any, session_id: str) -> None:
    open_sidebar(page)
    page.click(".mh-refresh")
    page.click(item(session_id))
    page.wait_for_selector(f".mh-session-title:text-is({session_id!r})")
    page.wait_for_selector(".mh-session-view .mh-message, .mh-session-view .mh-stats")


def notebooks(page: Any) -> list[dict[str, Any]]:
    """The open notebooks: path and cell sources of each."""
    return page.evaluate("""() => [...window.jupyterapp.shell.widgets('main')]
        .filter(w => w.context && w.content && w.content.widgets)
        .map(w => ({path: w.context.path,
                    sources: w.content.widgets.map(c => c.model.sharedModel.getSource())}))""")


def in_view(page: Any, selector: str) -> bool:
    """Whether the element is inside the visible part of the message log."""
    return page.evaluate("""sel => {
        const log = document.querySelector('.mh-message-list').getBoundingClientRect();
        const box = document.querySelector(sel).getBoundingClientRect();
        return box.top >= log.top - 1 && box.bottom <= log.bottom + 1;
    }""", selector)


def test_sidebar_lists_searches_and_opens_a_session(page: Any, lab: Lab) -> None:
    seed_chat(lab, "alpha chat")
    memory = lab.memory()
    memory.add("beta", [{"role": "Human", "content": "hello beta"}])
    memory.close()
    page.wait_for_selector(SIDEBAR_TAB)
    page.click(SIDEBAR_TAB)
    page.wait_for_selector(item("alpha chat"))
    page.wait_for_selector(item("beta"))
    assert page.is_hidden(".mh-pager")  # one page only
    assert "8 messages · 1 summary" in page.inner_text(item("alpha chat"))
    shot(page, "sidebar-list")

    page.fill(".mh-search", "ALPHA")
    page.wait_for_selector(item("beta"), state="detached")
    assert page.is_visible(item("alpha chat"))
    page.fill(".mh-search", "")
    page.wait_for_selector(item("beta"))

    page.click(item("alpha chat"))
    page.wait_for_selector(".mh-session-title:has-text('alpha chat')")
    # The counts come from the detail's message_count, summary_count, tokens; the
    # summary point and what follows it from the store. No window size: that is a
    # kernel's setting, which the server's store cannot know.
    meta = page.inner_text(".mh-session-view .mh-stats")
    assert re.fullmatch(r"8 messages · 1 summary · \d+ tokens spent summarizing", meta), meta
    state = page.inner_text(".mh-summary-state")
    assert re.fullmatch(r"Summary through #\d · \d messages? not yet summarized", state), state
    header = page.inner_text(".mh-session-view .mh-header")
    assert "window" not in header.lower() and "/12" not in header, header
    assert "summary tokens" not in page.inner_text(".mh-session-view")
    summary = page.inner_text(".mh-summary-text")
    assert "question 0" in summary and "answer 0" in summary
    assert page.locator(".mh-message").count() == 8
    last = page.locator(".mh-message").last
    assert "answer 3" in last.inner_text()
    assert re.search(r"\d+ tokens", last.inner_text())
    assert page.locator(".mh-message.mh-summarized").count() >= 2
    shot(page, "sidebar-session")

    page.click(".mh-back")
    page.wait_for_selector(item("beta"))


def test_new_sessions_show_up_without_a_refresh(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("early", [{"role": "Human", "content": "first"}])
    open_sidebar(page)
    page.click(".mh-refresh")
    page.wait_for_selector(item("early"))
    memory.add("late arrival", [{"role": "Human", "content": "written by a kernel"}])
    memory.close()
    page.wait_for_selector(item("late arrival"), timeout=30_000)  # the list polls every 10 s


def test_open_in_notebook_inserts_a_highlighted_magic_cell(page: Any, lab: Lab) -> None:
    seed_chat(lab, "it's notebook", turns=1)
    open_sidebar(page)
    page.click(".mh-refresh")
    page.click(item("it's notebook"))
    page.wait_for_selector(".mh-open")
    page.click(".mh-open")
    # No notebook was open: a new one is created with the load cell and the magic cell.
    cell = page.locator(".jp-Notebook .jp-Cell", has_text="%%motorhead").first
    cell.wait_for()
    sources = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".map(c => c.model.sharedModel.getSource())"
    )
    assert "%load_ext motorhead_magic" in sources
    assert "%%motorhead --session \"it's notebook\"\n" in sources
    # The body of a %%motorhead cell is edited as Markdown, other code cells stay code.
    magic = page.locator(".jp-Notebook .jp-Cell", has_text="%%motorhead --session").last
    magic.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# A *markdown* question")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.activeCell.model.mimeType"
        " === 'text/x-ipythongfm'"
    )
    mimes = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.mimeType)"
    )
    assert mimes[sources.index("%load_ext motorhead_magic")] != "text/x-ipythongfm"
    shot(page, "open-in-notebook")

    # More cells go into the same (active) notebook, without a second %load_ext, and
    # every id comes back intact through the magic's POSIX shlex parsing.
    for session_id in ["second", "tab\there", 'say "hi" it\'s \\ me', "ünï ☃/x"]:
        before = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets"
                               ".length")
        page.evaluate("id => window.jupyterapp.commands.execute('motorhead:insert-cell',"
                      " {sessionId: id})", session_id)
        page.wait_for_function("n => window.jupyterapp.shell.currentWidget.content.widgets"
                               ".length > n", arg=before)
        source = page.evaluate("() => window.jupyterapp.shell.currentWidget.content"
                               ".activeCell.model.sharedModel.getSource()")
        first_line = source.splitlines()[0]
        assert shlex.split(first_line) == ["%%motorhead", "--session", session_id], source
    sources = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".map(c => c.model.sharedModel.getSource())"
    )
    assert sources.count("%load_ext motorhead_magic") == 1


def test_delete_asks_and_removes_the_session(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("doomed", [{"role": "Human", "content": "bye"}])
    memory.add("survivor", [{"role": "Human", "content": "hi"}])
    open_sidebar(page)
    page.click(".mh-refresh")
    page.click(item("doomed"))
    page.click(".mh-delete")
    page.wait_for_selector(".jp-Dialog")
    assert "cannot be undone" in page.inner_text(".jp-Dialog")
    shot(page, "delete-dialog")
    page.click(".jp-Dialog .jp-mod-reject")  # Cancel keeps it
    page.wait_for_selector(".jp-Dialog", state="detached")
    assert "doomed" in memory.sessions()
    page.click(".mh-delete")
    page.click(".jp-Dialog .jp-mod-warn")
    page.wait_for_selector(item("survivor"))
    page.wait_for_selector(item("doomed"), state="detached")
    assert "doomed" not in memory.sessions() and memory.history("doomed") == []
    memory.close()


def test_palette_has_the_commands(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:activate-command-palette')")
    page.wait_for_selector(".lm-CommandPalette-input")
    page.fill(".lm-CommandPalette-input", "Motörhead")
    palette = page.locator(".lm-CommandPalette-content")
    palette.get_by_text("Show Motörhead Sessions").wait_for()
    text = palette.inner_text()
    assert "Refresh Motörhead Sessions" in text and "Insert %%motorhead Cell" in text
    shot(page, "palette")


def test_sidebar_follows_the_theme(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("themed", [{"role": "Human", "content": "dark or light?"}])
    memory.close()
    open_sidebar(page)
    page.click(".mh-refresh")
    page.wait_for_selector(item("themed"))

    def background() -> str:
        return page.eval_on_selector(".mh-sidebar", "e => getComputedStyle(e).backgroundColor")

    light = background()
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.wait_for_function(f"() => getComputedStyle(document.querySelector('.mh-sidebar'))"
                           f".backgroundColor !== '{light}'")
    shot(page, "sidebar-dark")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Light'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
    assert background() == light


def test_many_sessions_are_paged(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    for i in range(60):
        memory.add(f"bulk-{i:02d}", [{"role": "Human", "content": f"hello {i}"}])
    total = len(memory.sessions())
    memory.close()
    open_sidebar(page)
    page.click(".mh-refresh")
    page.wait_for_selector(item("bulk-59"))
    assert page.locator(".mh-session-item").count() == 50
    pages = -(-total // 50)
    assert page.inner_text(".mh-page") == f"1 / {pages}"
    assert page.is_disabled(".mh-prev")
    page.click(".mh-next")
    page.wait_for_selector(f".mh-page:has-text('2 / {pages}')")
    page.wait_for_selector(item("bulk-59"), state="detached")
    assert page.locator(".mh-session-item").count() == total - 50
    page.fill(".mh-search", "bulk-0")  # a search starts again at page 1
    # Names first (newest first), then sessions whose messages have the words (here
    # "0", in "hello 0" and other tests' "question 0").
    page.wait_for_selector(".mh-status:has-text('match \"bulk-0\"')")
    named = page.locator(".mh-session-item.mh-id-match")
    assert named.count() == 10
    assert [named.nth(i).get_attribute("data-session-id") for i in range(10)] == [
        f"bulk-{i:02d}" for i in range(9, -1, -1)]
    assert page.locator(".mh-session-item").nth(9).get_attribute("data-session-id") == "bulk-00"
    assert page.inner_text(f"{item('bulk-05')} mark") == "bulk-0"
    assert page.is_hidden(".mh-pager")


def test_session_view_opens_at_the_newest_message(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("long read", [{"role": "Human" if i % 2 == 0 else "AI", "content": f"line {i}"}
                             for i in range(250)])
    memory.close()
    open_session(page, "long read")
    page.wait_for_selector('.mh-message[data-seq="249"]')
    assert page.evaluate("() => { const l = document.querySelector('.mh-message-list');"
                         " return l.scrollHeight > 2 * l.clientHeight; }")  # it does scroll
    page.wait_for_function(LOG_AT_END)
    assert in_view(page, '.mh-message[data-seq="249"]')  # the newest message, not #150
    assert not in_view(page, '.mh-message[data-seq="150"]')
    assert page.inner_text(".mh-summary-state") == (
        "No summary yet · 250 messages not yet summarized")
    # The summary stays on top, outside the scrolling log.
    assert page.is_visible(".mh-summary-text")
    shot(page, "sidebar-session-newest")

    # "Load older" puts older messages above without moving what the user reads.
    page.eval_on_selector(".mh-message-list", "l => { l.scrollTop = 0; }")
    reading = '.mh-message[data-seq="150"]'
    top = page.eval_on_selector(reading, "e => e.getBoundingClientRect().top")
    page.click(".mh-load-older")
    page.wait_for_selector('.mh-message[data-seq="50"]')
    after = page.eval_on_selector(reading, "e => e.getBoundingClientRect().top")
    assert abs(after - top) <= 40, (top, after)  # the button's row at most


def test_open_session_refreshes_itself(page: Any, lab: Lab) -> None:
    """New turns from kernels and summaries that land show up while the view is open;
    a poll that finds nothing new re-renders nothing."""
    seed_chat(lab, "live chat", turns=2)  # 4 messages: no fold yet with a window of 4
    open_session(page, "live chat")
    page.wait_for_selector('.mh-message[data-seq="3"]')
    assert page.inner_text(".mh-stats").startswith("4 messages · 0 summaries · 0 tokens spent")
    assert page.inner_text(".mh-summary-state") == (
        "No summary yet · 4 messages not yet summarized")
    page.evaluate("() => { for (const e of document.querySelectorAll("
                  "'.mh-stats, .mh-summary-text, .mh-message')) e.dataset.mark = 'kept'; }")
    page.evaluate(f"() => {SIDEBAR_JS}.poll()")
    assert page.locator(".mh-stats[data-mark='kept']").count() == 1
    assert page.locator(".mh-summary-text[data-mark='kept']").count() == 1
    assert page.locator(".mh-message[data-mark='kept']").count() == 4

    seed_chat(lab, "live chat", turns=3, first=2)  # a kernel's turns, and folds landing
    page.wait_for_selector('.mh-message[data-seq="9"]', timeout=30_000)  # the 10 s poll
    stats = page.inner_text(".mh-stats")
    assert re.fullmatch(r"10 messages · [1-9]\d* summar(y|ies) · [1-9]\d* tokens spent summarizing",
                        stats), stats
    state = page.inner_text(".mh-summary-state")
    assert re.fullmatch(r"Summary through #\d · \d messages? not yet summarized", state), state
    assert "question 0" in page.inner_text(".mh-summary-text")
    assert page.locator(".mh-message").count() == 10  # each message once
    assert page.locator(".mh-message.mh-summarized").count() >= 2  # old bubbles follow the fold
    page.wait_for_function(LOG_AT_END)  # it was at the newest message: it stays there
    assert in_view(page, '.mh-message[data-seq="9"]')
    shot(page, "sidebar-session-refreshed")


def test_a_hidden_session_view_waits_and_catches_up_when_shown(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("quiet", [{"role": "Human", "content": "one"}])
    open_session(page, "quiet")
    page.wait_for_selector('.mh-message[data-seq="0"]')
    page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
    page.wait_for_selector(".mh-sidebar", state="hidden")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "motorhead-magic/api" in r.url
            else None)
    memory.add("quiet", [{"role": "AI", "content": "two"}])
    memory.close()
    page.evaluate(f"() => {SIDEBAR_JS}.poll()")
    page.wait_for_timeout(300)
    assert requests == []  # hidden: no reads
    open_sidebar_tab = "() => window.jupyterapp.commands.execute('motorhead:open-sidebar')"
    page.evaluate(open_sidebar_tab)
    page.wait_for_selector('.mh-message[data-seq="1"]', timeout=5_000)  # shown: reads at once
    assert page.inner_text(".mh-stats").startswith("2 messages")


def test_palette_insert_is_a_plain_cell_for_the_kernels_session(page: Any, lab: Lab) -> None:
    seed_chat(lab, "not this one", turns=1)
    open_session(page, "not this one")  # a session on screen is not a choice of session
    # What the palette item runs (clicking the item itself races the palette's re-renders
    # on a loaded machine; that the palette lists it is checked with the other commands).
    page.evaluate("() => window.jupyterapp.commands.execute('motorhead:insert-cell')")
    page.locator(".jp-Notebook .jp-Cell", has_text="%%motorhead").first.wait_for()
    [notebook] = notebooks(page)
    assert notebook["sources"] == ["%load_ext motorhead_magic", "%%motorhead\n"]


def test_open_in_notebook_with_the_launcher_in_front_opens_a_new_notebook(
        page: Any, lab: Lab) -> None:
    seed_chat(lab, "launcher case", turns=1)
    open_session(page, "launcher case")
    page.click(".mh-open")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.content?.widgets"
                           "?.length === 2")
    [first] = notebooks(page)
    assert first["sources"] == ["%load_ext motorhead_magic",
                                "%%motorhead --session 'launcher case'\n"]

    page.evaluate("() => window.jupyterapp.commands.execute('launcher:create')")
    # Lab may have opened its own launcher (hidden now behind the notebook) before ours:
    # wait for the one in front, not the first in the page.
    page.wait_for_selector(".jp-Launcher >> visible=true")
    page.click(".mh-open")
    page.wait_for_function("n => [...window.jupyterapp.shell.widgets('main')]"
                           ".filter(w => w.context && w.content?.widgets).length > n", arg=1)
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.content?.widgets"
                           "?.length === 2")
    by_path = {nb["path"]: nb["sources"] for nb in notebooks(page)}
    assert by_path[first["path"]] == first["sources"]  # the notebook out of sight is untouched
    [second] = [path for path in by_path if path != first["path"]]
    assert by_path[second] == first["sources"]
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path") == second

    # With a notebook in front, a click in the sidebar inserts into that notebook.
    page.click(".mh-open")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.content?.widgets"
                           "?.length === 3")
    by_path = {nb["path"]: nb["sources"] for nb in notebooks(page)}
    assert len(by_path) == 2 and by_path[first["path"]] == first["sources"]
    assert by_path[second][2] == "%%motorhead --session 'launcher case'\n"


def test_a_session_deleted_elsewhere_is_said_so(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("fleeting", [{"role": "Human", "content": "here for now"}])
    open_session(page, "fleeting")
    page.wait_for_selector('.mh-message[data-seq="0"]')
    assert page.is_hidden(".mh-note")
    memory.delete("fleeting")
    memory.close()
    page.click(".mh-session-refresh")
    page.wait_for_selector(".mh-note:has-text('no longer exists')")


def test_a_fork_links_to_its_parent(page: Any, lab: Lab) -> None:
    """A fork says where it came from, with its parent one click away; the list marks
    forks; a session that is no fork shows neither."""
    seed_chat(lab, "riff source", turns=4)
    memory = lab.memory()
    memory.fork("riff source", "riff source take 2", at=5)
    memory.close()
    open_sidebar(page)
    page.fill(".mh-search", "riff source")
    page.wait_for_selector(item("riff source take 2"))
    page.wait_for_selector(item("riff source"))
    fork_item = page.locator(item("riff source take 2"))
    assert fork_item.locator(".mh-fork-badge").inner_text() == "fork"
    assert "Fork of riff source at #5" in fork_item.locator(".mh-fork-badge").get_attribute(
        "title")
    assert page.locator(item("riff source")).locator(".mh-fork-badge").count() == 0
    shot(page, "sidebar-list-fork")

    page.click(item("riff source take 2"))
    page.wait_for_selector(".mh-session-title:text-is('riff source take 2')")
    assert page.inner_text(".mh-lineage") == "Fork of riff source at #5"
    assert page.inner_text(".mh-stats").startswith("6 messages")
    assert page.locator(".mh-parent-link").inner_text() == "riff source"
    # JupyterLab's base styles make links plain text; this one must still look like one.
    assert page.eval_on_selector(".mh-parent-link",
                                 "e => getComputedStyle(e).textDecorationLine") == "underline"
    shot(page, "sidebar-session-fork")

    page.click(".mh-parent-link")
    page.wait_for_selector(".mh-session-title:text-is('riff source')")
    page.wait_for_selector('.mh-message[data-seq="7"]')  # the parent's own log, all of it
    assert page.inner_text(".mh-stats").startswith("8 messages")
    assert page.locator(".mh-lineage").count() == 0  # the parent is no fork
    page.click(".mh-back")
    page.wait_for_selector(item("riff source take 2"))


def test_search_finds_a_word_inside_a_message_and_opens_the_session_there(
        page: Any, lab: Lab) -> None:
    """Typing a word that is only inside a message shows its session with the matching
    line, the word in <mark> (user text stays text, never HTML); a click opens the
    session scrolled to that message; the keyboard does the same; Escape goes back to
    the plain list; a word found nowhere says so."""
    memory = lab.memory()
    lines = [f"rehearsal note {i}" for i in range(300)]
    lines[42] = ("<img src=x onerror=\"window.mhPwned=1\"> the Xylophones come in after"
                 " the <b>solo</b>")
    memory.add("tour diary", [{"role": "Human" if i % 2 == 0 else "AI", "content": line}
                              for i, line in enumerate(lines)])
    memory.add("set list", [{"role": "Human", "content": "no percussion here"}])
    memory.close()
    open_sidebar(page)
    page.fill(".mh-search", "xylophone")
    result = page.locator(".mh-search-result")
    result.first.wait_for()
    page.wait_for_selector(".mh-status:text-is('1 session matches \"xylophone\"')")
    assert result.count() == 1 and result.first.get_attribute("data-session-id") == "tour diary"
    hit = result.first.locator(".mh-hit")
    assert hit.count() == 1 and hit.get_attribute("data-seq") == "42"
    assert hit.locator("mark").all_inner_texts() == ["Xylophones"]  # stemmed, as it matched
    text = hit.locator(".mh-hit-text").inner_text()
    assert text.startswith("<img src=x") and "<b>solo</b>" in text  # shown, not parsed
    assert page.locator(".mh-sidebar img, .mh-sidebar b").count() == 0
    assert page.evaluate("() => window.mhPwned") is None
    assert "300 messages" in result.first.inner_text()
    shot(page, "sidebar-search")

    hit.click()
    page.wait_for_selector(".mh-session-title:text-is('tour diary')")
    found = '.mh-message.mh-found[data-seq="42"]'  # older than the first page: loaded
    page.wait_for_selector(found)
    assert page.locator(".mh-message.mh-found").count() == 1
    assert in_view(page, found)
    assert "Xylophones" in page.inner_text(found)
    shot(page, "sidebar-search-opened")

    page.click(".mh-back")  # back to the results, the session just left focused
    page.wait_for_selector(".mh-hit[data-seq='42']")
    page.wait_for_function("() => document.activeElement?.dataset?.sessionId === 'tour diary'")
    page.focus(".mh-search")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.sessionId") == "tour diary"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.seq") == "42"
    page.keyboard.press("Enter")
    page.wait_for_selector(found)
    page.click(".mh-back")
    page.wait_for_selector(".mh-hit[data-seq='42']")

    page.fill(".mh-search", "qwzxyv")
    page.wait_for_selector(".mh-status:text-is('No session or message matches \"qwzxyv\".')")
    assert page.locator(".mh-session-item").count() == 0

    page.focus(".mh-search")
    page.keyboard.press("Escape")  # an empty box: the plain paged list again
    assert page.input_value(".mh-search") == ""
    page.wait_for_selector(".mh-status:text-matches('^[0-9,]+ sessions?$')")
    page.wait_for_selector(item("set list"))
    assert page.locator(".mh-hit, .mh-search-result").count() == 0


def test_search_results_follow_the_dark_theme(page: Any, lab: Lab) -> None:
    memory = lab.memory()
    memory.add("night shift", [{"role": "Human", "content": "the nocturne was lovely"}])
    memory.close()
    open_sidebar(page)
    page.fill(".mh-search", "nocturne")
    page.wait_for_selector(".mh-hit mark")

    def colors() -> dict[str, str]:
        return page.evaluate("""() => {
            const style = sel => getComputedStyle(document.querySelector(sel));
            return {sidebar: style('.mh-sidebar').backgroundColor,
                    text: style('.mh-hit-text').color,
                    mark: style('.mh-hit mark').backgroundColor,
                    markText: style('.mh-hit mark').color};
        }""")

    light = colors()
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.wait_for_function(f"() => getComputedStyle(document.querySelector('.mh-sidebar'))"
                           f".backgroundColor !== '{light['sidebar']}'")
    dark = colors()
    assert dark["text"] != light["text"]  # light text on the dark sidebar
    assert dark["mark"] not in ("rgba(0, 0, 0, 0)", dark["sidebar"])  # marks stay visible
    assert dark["markText"] != dark["mark"]
    shot(page, "sidebar-search-dark")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Light'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
