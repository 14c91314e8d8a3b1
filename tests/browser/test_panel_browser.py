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
