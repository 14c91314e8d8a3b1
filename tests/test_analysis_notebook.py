"""notebooks/analysis.ipynb executes headless (nbclient, a real ipykernel) on a clean setup."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "analysis.ipynb"


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing of the developer's home: data, runtime, IPython and matplotlib dirs in tmp."""
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        path = tmp_path / name.lower()
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("MOTORHEAD_URL", f"sqlite:///{tmp_path / 'untouched.db'}")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    return tmp_path


def outputs(nb: nbformat.NotebookNode) -> tuple[str, list[bytes]]:
    text, images = [], []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                text.append(output.text)
            data = output.get("data", {})
            text.append(data.get("text/plain", ""))
            text.append(data.get("text/html", ""))
            if "image/png" in data:
                images.append(base64.b64decode(data["image/png"]))
    return "\n".join(text), images


def test_analysis_notebook_executes_headless(clean_env: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        "commit the notebook without outputs"
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(clean_env)}}).execute()
    text, images = outputs(nb)
    assert len(images) == 3 and all(image.startswith(b"\x89PNG") for image in images)
    assert "imported 16 messages; role/content/metadata/order equal: True" in text
    assert "motorhead session: lemmy" in text
    for column in ("mean_tokens_per_message", "window_messages", "summary_chars", "through_seq"):
        assert column in text
    assert "The user asked: Which band did Lemmy lead?" in text  # the summaries table
    assert not (clean_env / "untouched.db").exists()  # the notebook used its own temp store
