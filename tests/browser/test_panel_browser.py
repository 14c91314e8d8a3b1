"""The memory panel rendered by a real JupyterLab in headless Chromium.

A notebook in the lab's root chats with a fake model (LangChain's
``FakeListChatModel`` through ``motorhead_magic.chat.turn.run_turn``; summaries by
``tests.fakes.SummaryEcho``), opens the panel, and the test checks what the
browser shows, then types into the panel's prompt box and clicks Send.

Uses the ``lab`` and ``browser`` fixtures of ``tests/browser/conftest.py``; the
notebook opens in its own JupyterLab workspace so the other browser tests'
default workspace never restores it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import TIMEOUT_MS, Lab, shot

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SESSION = "panel-in-the-browser"
KERNEL_TIMEOUT_MS = 180_000  # kernel start + first imports on 2 slow cores

SETUP = f"""\
import sys
sys.path.insert(0, {str(REPO)!r})  # for tests.fakes
import motorhead_magic as mh
from langchain_core.language_models import FakeListChatModel
from motorhead_magic.chat.turn import run_turn
from tests.fakes import SummaryEcho

memory = mh.connect(window_size=4, summarizer=SummaryEcho())  # MOTORHEAD_URL: the lab's store
model = FakeListChatModel(responses=[f"fake reply {{i}}" for i in range(100)])
SESSION = {SESSION!r}
for i in range(4):
    run_turn(memory, SESSION, f"hello from turn {{i}}", model)
    memory.wait(SESSION)  # one fold after turn 3: summary through #3, window #4-#7
print("summaries:", len(memory.summaries(SESSION)))
"""

PANEL = """\
def send(session_id, text):
    return run_turn(memory, session_id, text, model,
                    on_token=lambda partial: panel.stream(session_id, partial))

panel = mh.Panel(memory, SESSION, model_label="FakeListChatModel", send=send)
panel
"""


def notebook_json(cells: list[str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}",
                   "metadata": {}, "outputs": [], "source": source}
                  for i, source in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    })


def run_all_cells(page: Any) -> None:
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=KERNEL_TIMEOUT_MS)
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.sessionContext.ready;
        await window.jupyterapp.commands.execute('notebook:run-all-cells');
    }""")


def panel_text(page: Any, selector: str) -> str:
    return page.inner_text(f".mhp-panel {selector}")


def close_everything(page: Any) -> None:
    """Close the notebook and stop its kernel, so later tests start from a quiet lab."""
    page.evaluate("""async () => {
        const app = window.jupyterapp;
        if (!app) return;
        await app.commands.execute('application:close-all');
        await app.serviceManager.sessions.shutdownAll();
    }""")


def test_panel_shows_the_memory_and_sends_a_turn(browser: Any, lab: Lab) -> None:
    (lab.root / "panel.ipynb").write_text(notebook_json([SETUP, PANEL]), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1300, "height": 1400})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{lab.url}/lab/workspaces/motorhead-panel/tree/panel.ipynb?reset",
                  wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        run_all_cells(page)
        page.wait_for_selector(".mhp-panel .mhp-window .mhp-msg", timeout=KERNEL_TIMEOUT_MS)

        header = panel_text(page, ".mhp-header-box")
        assert SESSION in header and "FakeListChatModel" in header
        assert "8 messages" in header
        window = panel_text(page, ".mhp-window")
        assert "hello from turn 2" in window and "fake reply 3" in window
        assert "hello from turn 1" not in window
        summary = panel_text(page, ".mhp-summary-box")
        assert "Running summary" in summary and "covers messages #0–#3" in summary
        assert ("Human: hello from turn 0 / AI: fake reply 0 / Human: hello from turn 1"
                " / AI: fake reply 1") in summary
        older = panel_text(page, ".mhp-older")
        assert "hello from turn 0" in older and "summarized" in older

        page.fill(".mhp-panel .mhp-prompt textarea", "the browser says hi")
        page.click(".mhp-panel button.mhp-send")
        page.wait_for_function(
            "() => document.querySelector('.mhp-panel .mhp-window').innerText"
            ".includes('the browser says hi')", timeout=KERNEL_TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelector('.mhp-panel .mhp-window').innerText"
            ".includes('fake reply 4')", timeout=KERNEL_TIMEOUT_MS)
        assert page.input_value(".mhp-panel .mhp-prompt textarea") == ""
        page.wait_for_function(
            "() => document.querySelector('.mhp-panel .mhp-header-box').innerText"
            ".includes('10 messages')", timeout=KERNEL_TIMEOUT_MS)
        # the turn pushed the window past 4: the fold worker's update reaches the browser
        page.wait_for_function(
            "() => document.querySelector('.mhp-panel .mhp-summary-box').innerText"
            ".includes('covers messages #0–#7')", timeout=KERNEL_TIMEOUT_MS)
        assert "Human: hello from turn 3 / AI: fake reply 3" in panel_text(page, ".mhp-summary-box")
        page.locator(".mhp-panel").scroll_into_view_if_needed()
        shot(page, "panel")
        # the window's newest message is in view inside the bounded message area
        assert in_view(page, ".mhp-panel .mhp-window .mhp-msg:last-child", ".mhp-panel .mhp-scroll")

        # A fork says where it came from; its parent is one click away
        assert page.is_hidden(".mhp-panel button.mhp-parent")  # no fork: nothing extra
        execute(page, "memory.fork(SESSION, SESSION + ' take 2', at=5);"
                      " panel.show_session(SESSION + ' take 2')")
        page.wait_for_function(
            "(t) => document.querySelector('.mhp-panel .mhp-header-box').innerText.includes(t)",
            arg=f"fork of {SESSION} at #5", timeout=KERNEL_TIMEOUT_MS)
        parent = page.locator(".mhp-panel button.mhp-parent")
        assert parent.is_visible() and SESSION in parent.inner_text()
        assert page.eval_on_selector(".mhp-panel button.mhp-parent",
                                     "b => b.scrollWidth <= b.clientWidth + 1")  # not cut
        shot(page, "panel-fork")
        parent.click()
        page.wait_for_function(
            "() => !document.querySelector('.mhp-panel .mhp-header-box').innerText"
            ".includes('fork of') && document.querySelector('.mhp-panel .mhp-window')"
            ".innerText.includes('fake reply 4')", timeout=KERNEL_TIMEOUT_MS)
        assert page.is_hidden(".mhp-panel button.mhp-parent")
    except Exception:
        shot(page, "FAILED-panel")
        raise
    finally:
        close_everything(page)
        context.close()

    memory = lab.memory()
    try:
        stored = [(m.role, m.content) for m in memory.history(SESSION)[-2:]]
        assert stored == [("Human", "the browser says hi"), ("AI", "fake reply 4")]
    finally:
        memory.close()


# -- the look: theme colours, a bounded chat view -------------------------------------

FORTY = "panel-forty-messages"

SETUP_FORTY = f"""\
import sys
sys.path.insert(0, {str(REPO)!r})  # for tests.fakes
import motorhead_magic as mh
from langchain_core.language_models import FakeListChatModel
from motorhead_magic.chat.turn import run_turn
from tests.fakes import SummaryEcho

import threading

gate = threading.Event()  # cleared: folds wait, so the test can see one in progress
gate.set()

class GatedSummary(SummaryEcho):
    def _generate(self, *args, **kwargs):
        gate.wait(120)
        return super()._generate(*args, **kwargs)

memory = mh.connect(window_size=4, summarizer=GatedSummary())
model = FakeListChatModel(responses=[f"fake reply {{i}}: " + "words " * 12 for i in range(100)])
SESSION = {FORTY!r}
memory.add(SESSION, [{{"role": "system", "content": "You are a terse assistant."}}] + [
    {{"role": "Human" if i % 2 else "AI",
      "content": f"message {{i}}: " + "some chat text " * (1 + i % 6)}}
    for i in range(1, 40)])
memory.wait(SESSION)

def send(session_id, text):
    return run_turn(memory, session_id, text, model,
                    on_token=lambda partial: panel.stream(session_id, partial))

panel = mh.Panel(memory, SESSION, model_label="FakeListChatModel", send=send)
panel
"""

LIGHT, DARK = "JupyterLab Light", "JupyterLab Dark"


def set_theme(page: Any, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme})", theme)
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme",
                           arg=theme, timeout=TIMEOUT_MS)
    page.wait_for_function(  # the theme's stylesheet is applied, not just announced
        "(light) => getComputedStyle(document.body).getPropertyValue('--jp-layout-color1')"
        ".trim() !== '' && (document.body.dataset.jpThemeLight === 'true') === light",
        arg=theme == LIGHT, timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)  # the theme's CSS swaps in asynchronously


def execute(page: Any, code: str) -> None:
    """Run ``code`` in the open notebook's kernel (no cell), and wait for it."""
    page.evaluate("""async (code) => {
        const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        const reply = await kernel.requestExecute({code, store_history: false}).done;
        if (reply.content.status !== 'ok') throw new Error(JSON.stringify(reply.content));
    }""", code)


def rect(page: Any, selector: str) -> dict[str, float]:
    return page.evaluate("(s) => { const r = document.querySelector(s).getBoundingClientRect();"
                         " return {x: r.x, y: r.y, width: r.width, height: r.height,"
                         " bottom: r.bottom, right: r.right}; }", selector)


def in_view(page: Any, selector: str, container: str | None = None) -> bool:
    """Whether ``selector`` lies wholly inside the viewport (or ``container``'s box)."""
    inner = rect(page, selector)
    if container is None:
        size = page.viewport_size
        outer = {"x": 0, "y": 0, "right": size["width"], "bottom": size["height"]}
    else:
        outer = rect(page, container)
    return (inner["y"] >= outer["y"] - 1 and inner["bottom"] <= outer["bottom"] + 1
            and inner["x"] >= outer["x"] - 1 and inner["right"] <= outer["right"] + 1)


def colours(page: Any) -> dict[str, str]:
    return page.evaluate("""() => {
        const css = (s, p) => getComputedStyle(document.querySelector(s))[p];
        return {
            panel: css('.mhp-panel', 'backgroundColor'),
            panel_text: css('.mhp-panel', 'color'),
            ai: css('.mhp-panel .mhp-window .mhp-msg.mhp-ai', 'backgroundColor'),
            ai_text: css('.mhp-panel .mhp-window .mhp-msg.mhp-ai', 'color'),
            human: css('.mhp-panel .mhp-window .mhp-msg.mhp-human', 'backgroundColor'),
            human_text: css('.mhp-panel .mhp-window .mhp-msg.mhp-human', 'color'),
            summary: css('.mhp-panel .mhp-summary', 'backgroundColor'),
            summary_text: css('.mhp-panel .mhp-summary', 'color'),
            meta: css('.mhp-panel .mhp-window .mhp-meta', 'color'),
        };
    }""")


def rgba(colour: str) -> tuple[float, float, float, float]:
    """A computed CSS colour (``rgb()``, ``rgba()`` or ``color(srgb ...)``) as 0-1 floats."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", colour.split("srgb")[-1])]
    if colour.startswith("color("):
        r, g, b = numbers[:3]
    else:
        r, g, b = (n / 255 for n in numbers[:3])
    return r, g, b, numbers[3] if len(numbers) > 3 else 1.0


def contrast(text: str, background: str, page_background: str) -> float:
    """WCAG contrast of ``text`` over ``background`` (both composited over the page)."""
    def over(top: tuple, bottom: tuple) -> tuple:
        a = top[3]
        return tuple(t * a + b * (1 - a) for t, b in zip(top[:3], bottom[:3])) + (1.0,)

    def luminance(c: tuple) -> float:
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    base = rgba(page_background)
    back = over(rgba(background), base)
    front = over(rgba(text), back)
    hi, lo = sorted((luminance(front), luminance(back)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["right"] - 0.5 and b["x"] < a["right"] - 0.5
            and a["y"] < b["bottom"] - 0.5 and b["y"] < a["bottom"] - 0.5)


def test_panel_is_compact_and_follows_the_theme(browser: Any, lab: Lab) -> None:
    (lab.root / "forty.ipynb").write_text(notebook_json([SETUP_FORTY]), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{lab.url}/lab/workspaces/motorhead-forty/tree/forty.ipynb?reset",
                  wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        set_theme(page, LIGHT)
        run_all_cells(page)
        page.wait_for_selector(".mhp-panel .mhp-window .mhp-msg", timeout=KERNEL_TIMEOUT_MS)
        page.wait_for_function("() => document.querySelector('.mhp-panel .mhp-older .mhp-msg')")
        page.locator(".mhp-panel").scroll_into_view_if_needed()

        # Bounded: 40 messages scroll inside a 420 px area; the newest one is in view
        scroll = page.evaluate("""() => {
            const s = document.querySelector('.mhp-panel .mhp-scroll');
            return {client: s.clientHeight, scroll: s.scrollHeight}; }""")
        assert scroll["client"] <= 421 and scroll["scroll"] > scroll["client"] + 100
        panel_box = rect(page, ".mhp-panel")
        assert panel_box["height"] < 760, panel_box
        assert in_view(page, ".mhp-panel .mhp-window .mhp-msg:last-child", ".mhp-panel .mhp-scroll")
        assert not in_view(page, ".mhp-panel .mhp-older .mhp-msg", ".mhp-panel .mhp-scroll")
        assert in_view(page, ".mhp-panel button.mhp-send")
        assert in_view(page, ".mhp-panel .mhp-prompt textarea")

        # The Export label is whole; the pager's parts do not overlap
        cut = page.evaluate("""() => [...document.querySelectorAll('.mhp-panel button')]
            .filter(b => b.offsetParent !== null && b.scrollWidth > b.clientWidth + 1)
            .map(b => b.innerText)""")
        assert cut == []
        assert page.inner_text(".mhp-panel button.mhp-export").strip() == "Export DataFrame"
        parts = [rect(page, f".mhp-panel .mhp-pager > :nth-child({i})") for i in range(1, 6)]
        assert not any(boxes_overlap(a, b) for i, a in enumerate(parts) for b in parts[i + 1:])
        assert all(p["width"] > 0 for p in parts)

        # Light theme: readable, and a screenshot
        light = colours(page)
        for text, back in (("ai_text", "ai"), ("human_text", "human"),
                           ("summary_text", "summary"), ("panel_text", "panel")):
            assert contrast(light[text], light[back], light["panel"]) >= 4.5, (text, light)
        shot(page, "panel-light")

        # Dark theme: other colours, still readable
        set_theme(page, DARK)
        page.locator(".mhp-panel").scroll_into_view_if_needed()
        dark = colours(page)
        for key in ("panel", "panel_text", "ai", "human", "ai_text", "summary"):
            assert dark[key] != light[key], (key, light[key], dark[key])
        assert sum(rgba(dark["panel"])[:3]) < sum(rgba(light["panel"])[:3])  # darker
        for text, back in (("ai_text", "ai"), ("human_text", "human"),
                           ("summary_text", "summary"), ("panel_text", "panel")):
            assert contrast(dark[text], dark[back], dark["panel"]) >= 4.5, (text, dark)
        assert contrast(dark["meta"], dark["ai"], dark["panel"]) >= 3, dark
        shot(page, "panel-dark")

        # Messages arrive and a fold lands: Send stays where it was, in view. Measured
        # with no fold running: while one runs, the header shows its progress line (one
        # line more, by design), and a fold's last progress event can land after its
        # summary does.
        no_fold_running = "() => !document.querySelector('.mhp-panel .mhp-progress')"
        page.wait_for_function(no_fold_running, timeout=KERNEL_TIMEOUT_MS)
        send_before = rect(page, ".mhp-panel button.mhp-send")
        for text, reply in (("first question from the browser", "fake reply 0"),
                            ("second question from the browser", "fake reply 1")):
            page.fill(".mhp-panel .mhp-prompt textarea", text)
            page.click(".mhp-panel button.mhp-send")
            page.wait_for_function(
                "(r) => document.querySelector('.mhp-panel .mhp-window').innerText.includes(r)",
                arg=reply, timeout=KERNEL_TIMEOUT_MS)
        page.wait_for_function(  # 44 messages, window 4: a fold landed
            "() => document.querySelector('.mhp-panel .mhp-header-box').innerText"
            ".includes('44 messages') && document.querySelector('.mhp-panel .mhp-summary')"
            ".innerText.includes('#0–#41')", timeout=KERNEL_TIMEOUT_MS)
        page.wait_for_function(no_fold_running, timeout=KERNEL_TIMEOUT_MS)
        send_after = rect(page, ".mhp-panel button.mhp-send")
        assert abs(send_after["y"] - send_before["y"]) <= 2, (send_before, send_after)
        assert in_view(page, ".mhp-panel button.mhp-send")
        assert in_view(page, ".mhp-panel .mhp-window .mhp-msg:last-child", ".mhp-panel .mhp-scroll")

        # One click to the oldest page of older messages, one back
        page.click(".mhp-panel button.mhp-first-button")
        page.wait_for_function("() => document.querySelector('.mhp-panel .mhp-page-label')"
                               ".innerText.includes('#0–#19')", timeout=KERNEL_TIMEOUT_MS)
        assert page.is_disabled(".mhp-panel button.mhp-first-button")
        page.click(".mhp-panel button.mhp-last-button")
        page.wait_for_function("() => document.querySelector('.mhp-panel .mhp-page-label')"
                               ".innerText.includes('#22–#41')", timeout=KERNEL_TIMEOUT_MS)

        # Background work shows in the header while it runs, and goes when the fold lands
        set_theme(page, LIGHT)
        execute(page, "gate.clear(); memory.add(SESSION, [{'role': 'Human', 'content': 'one'},"
                      " {'role': 'AI', 'content': 'two'}, {'role': 'Human', 'content': 'three'}])")
        page.wait_for_function(
            "() => document.querySelector('.mhp-panel .mhp-progress')?.innerText"
            f".includes('summarizing {FORTY}, chunk 1/1')", timeout=KERNEL_TIMEOUT_MS)
        page.locator(".mhp-panel").scroll_into_view_if_needed()
        assert in_view(page, ".mhp-panel .mhp-progress")
        shot(page, "panel-fold-progress")
        execute(page, "gate.set()")
        page.wait_for_function(
            "() => !document.querySelector('.mhp-panel .mhp-progress')"
            " && document.querySelector('.mhp-panel .mhp-summary').innerText.includes('#0–#44')",
            timeout=KERNEL_TIMEOUT_MS)
    except Exception:
        shot(page, "FAILED-panel-theme")
        raise
    finally:
        try:
            set_theme(page, LIGHT)  # the lab is shared with the other browser tests
        finally:
            close_everything(page)
            context.close()
