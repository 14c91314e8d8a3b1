"""Jupyter Server extension and JupyterLab sidebar for motorhead-magic.

The server side (``handlers.py``) serves the memory store that kernels write
to, under ``/motorhead-magic/api/``; the TypeScript sidebar in
``labextension/`` (built into ``motorhead_magic/jupyter/labextension``) reads it.
Both are enabled on install through ``jupyter-config`` and shared-data.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "motorhead_magic.jupyter"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # Used by `jupyter labextension develop --overwrite .` for editable installs.
    return [{"src": "labextension", "dest": "motorhead-magic"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("motorhead_magic: sidebar API at /motorhead-magic/api/")


def _unload_jupyter_server_extension(serverapp: Any) -> None:
    from .handlers import SETTINGS_KEY

    service = serverapp.web_app.settings.pop(SETTINGS_KEY, None)
    if service is not None:
        service.close()
