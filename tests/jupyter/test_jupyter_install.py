"""Installing the package enables both halves: the lab extension and the server extension.

Checks the environment that ``pip install [-e] .`` produced, through Jupyter's own
CLIs, as a user would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyter(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True,
                          text=True, timeout=120, check=True)
    return ANSI.sub("", done.stdout + done.stderr)


def test_labextension_is_installed_and_enabled() -> None:
    listing = jupyter("labextension", "list")
    assert re.search(r"motorhead-magic v\S+ enabled\s+OK", listing), listing
    found = [Path(p) / "labextensions" / "motorhead-magic" for p in jupyter_path()]
    installed = next(p for p in found if (p / "package.json").exists())
    meta = json.loads((installed / "package.json").read_text())
    assert meta["name"] == "motorhead-magic"
    assert (installed / meta["jupyterlab"]["_build"]["load"]).exists()


def test_server_extension_is_enabled_by_the_installed_config() -> None:
    listing = jupyter("server", "extension", "list")
    assert re.search(r"motorhead_magic\.jupyter\s+enabled", listing), listing
    assert re.search(r"motorhead_magic\.jupyter\s+OK", listing), listing
