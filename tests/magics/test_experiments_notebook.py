"""notebooks/experiments.ipynb executed headless (a real kernel, fake models for speed,
the offline model in the comparison): fork, replay, compare + adopt, usage, seen."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.magics.conftest import cell_text, execute_notebook

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "experiments.ipynb"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


@pytest.mark.local_model
def test_experiments_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    notebook = execute_notebook(NOTEBOOK, tmp_path, monkeypatch)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    texts = [cell_text(c) for c in code]
    everything = "\n".join(texts)
    assert "forked 'band' into 'band-alt' (6 messages, through #5)" in everything
    assert "band-w2" in everything  # the replay's session
    compare = next(c for c in code if c.source.startswith("%%motorhead --compare"))
    html = "".join(o.get("data", {}).get("text/html", "") for o in compare.outputs)
    assert "0: careful" in html and "1: local" in html  # side by side, one column each
    assert "Careful answer" in everything  # adopted, then read back
    assert "system + summary v" in everything and "input #12" in everything
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.outputs)
