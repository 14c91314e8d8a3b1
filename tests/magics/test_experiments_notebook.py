"""notebooks/experiments.ipynb executed headless (a real kernel, fake models for speed,
the offline model in the comparison): fork, replay, compare + adopt, usage, seen."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.magics.conftest import require_local_model

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "experiments.ipynb"


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/markdown", "") or data.get("text/plain", ""))
    return "\n".join(parts)


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


@pytest.mark.local_model
def test_experiments_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    require_local_model()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "MOTORHEAD_MODEL",
                 "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_URL", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    texts = [_text(c) for c in code]
    everything = "\n".join(texts)
    assert "forked 'band' into 'band-alt' (6 messages, through #5)" in everything
    assert "band-w2" in everything  # the replay's session
    compare = next(c for c in code if c.source.startswith("%%motorhead --compare"))
    html = "".join(o.get("data", {}).get("text/html", "") for o in compare.outputs)
    assert "0: careful" in html and "1: local" in html  # side by side, one column each
    assert "Careful answer" in everything  # adopted, then read back
    assert "system + summary v" in everything and "input #12" in everything
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.outputs)
