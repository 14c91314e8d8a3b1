"""The "Motörhead" sidebar in a real JupyterLab and Chromium: list, open, search,
"Open in notebook", Markdown highlighting of the cell, delete, palette, themes."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from tests.browser.conftest import Lab, shot
from tests.fakes import SummaryEcho

pytestmark = pytest.mark.browser

SIDEBAR_TAB = '.jp-SideBar .lm-TabBar-tab[data-id="motorhead-magic-sidebar"]'


def item(session_id: str) -> str:
    return f'.mh-session-item[data-session-id="{session_id}"]'


def open_sidebar(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('motorhead:open-sidebar')")
    page.wait_for_selector(".mh-sidebar .mh-session-list", state="visible")


def seed_chat(lab: Lab, session_id: str, turns: int = 4) -> None:
    """A session with real folds (by the fake summarizer) and a window."""
    import motorhead_magic as mh

    memory = mh.connect(lab.store_url, window_size=4, summarizer=SummaryEcho())
    try:
        for i in range(turns):
            memory.add(session_id, [{"role": "Human", "content": f"question {i}"},
                                    {"role": "AI", "content": f"answer {i}"}])
            memory.wait(session_id)
    finally:
        memory.close()


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
    # The counts and the window come from the detail's message_count, summary_count, messages.
    meta = page.inner_text(".mh-session-view .mh-stats")
    assert "8 messages · 1 summary · " in meta
    assert re.search(r"window [1-9]\d*/\d+ msgs \(\d+ tokens\)", meta), meta
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
    page.wait_for_selector(".mh-status:text-is('10 sessions')")
    assert page.locator(".mh-session-item").count() == 10
    assert page.is_hidden(".mh-pager")
