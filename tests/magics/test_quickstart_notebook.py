"""notebooks/quickstart.ipynb executed headless (nbclient, a real kernel, the offline
model), as a new user would run it: top to bottom, no API key."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests.magics.conftest import cell_text, execute_notebook

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


@pytest.mark.local_model
def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    store = f"sqlite:///{tmp_path / 'memory.db'}"
    notebook = execute_notebook(NOTEBOOK, tmp_path, monkeypatch, store)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    turns = [c for c in code if c.source.startswith("%%motorhead")]
    assert len(turns) == 8
    for cell in turns:
        (result,) = cell.outputs  # the streamed preview gave way to the reply itself
        assert result.output_type == "execute_result"
        assert result.data["text/markdown"].strip()
        assert result.metadata["text/markdown"]["motorhead"] == {
            "session_id": "quickstart", "model": "local (SmolLM2-135M-Instruct)"}
    memories = [cell_text(c) for c in code if "%motorhead memory" in c.source]
    assert "6 messages" in memories[0] and "_no summary yet_" in memories[0]
    assert "14 messages, window shows" in memories[1] and "(window size 4)" in memories[1]
    assert "_no summary yet_" not in memories[1]
    assert re.search(r"session 'quickstart': [1-9][0-9]* summaries\n", memories[1])
    # recall: the fact (#6, "I live in Lisbon ...") left the window; the turn got it back
    (seen,) = [cell_text(c) for c in code if c.source.startswith("%motorhead seen")]
    first = seen.strip().splitlines()[0]
    assert re.search(r"recalled (#\d+, )*#6\b", first)
    assert "Earlier messages that may be relevant:" in seen
    assert re.search(r"\[\d{4}-\d\d-\d\d \d\d:\d\d\] Human: I live in Lisbon", seen)
    (search,) = [cell_text(c) for c in code if c.source.startswith("%motorhead search")]
    assert "in session 'quickstart' for 'Lisbon bass', best first (keyword search)" in search
    assert "I live in Lisbon and I play the bass guitar." in search
    assert re.search(r"also recalled (#\d+, )*#6\b", cell_text(code[-1]))  # the panel's text
    export = next(c for c in code if c.source.startswith("messages["))
    assert "True" in cell_text(export) and "False" in cell_text(export)  # some folded, some not
