"""pytest-jupyter's server fixtures, for this folder only.

Imported here rather than through ``pytest_plugins``, which would register them
for the whole suite: pytest-jupyter brings autouse fixtures (a fresh event loop
closed after every test, a ServerApp cleanup) and a ``pytest_pyfunc_call`` hook
that runs every coroutine test, which other folders must not get.
"""


from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

import motorhead_magic as mh


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's store, on each backend; the server finds it as a kernel does."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")  # a real redis-server, emptied
    else:
        url = f"sqlite:///{tmp_path / 'sidebar.db'}"
    monkeypatch.setenv("MOTORHEAD_URL", url)
    return url


@pytest.fixture
def memory(store_url: str) -> Iterator[mh.Memory]:
    memory = mh.connect(store_url, window_size=4)
    yield memory
    memory.close()


@pytest.fixture
def jp_server_config(store_url: str) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"motorhead_magic.jupyter": True}}}
