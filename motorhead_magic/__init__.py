"""Motörhead-style conversation memory for Jupyter.

``import motorhead_magic as mh; memory = mh.connect()`` gives the Python API;
``%load_ext motorhead_magic`` the ``%%motorhead`` magics. This module is the public
surface only: the records, the errors and ``connect`` are imported here; ``Panel``,
``import_frame`` and the magics load on first use, so LangChain, pandas, widgets and
llama.cpp stay out of a plain ``import``.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import InvalidInput, ModelUnavailable, MotorheadError, StoreUnavailable
from .memory import Memory, connect
from .records import Hit, MemoryView, Message, SessionInfo, Summary

__all__ = [
    "Hit",
    "InvalidInput",
    "Memory",
    "MemoryView",
    "Message",
    "ModelUnavailable",
    "MotorheadError",
    "Panel",
    "SessionInfo",
    "StoreUnavailable",
    "Summary",
    "__version__",
    "connect",
    "adopt",
    "compare",
    "import_frame",
    "load_ipython_extension",
    "replay",
]

_LAZY = {
    "Panel": ("motorhead_magic.notebook.panel", "Panel"),
    "import_frame": ("motorhead_magic.transfer", "import_frame"),
    "replay": ("motorhead_magic.chat.experiments", "replay"),
    "compare": ("motorhead_magic.chat.experiments", "compare"),
    "adopt": ("motorhead_magic.chat.experiments", "adopt"),
}


def load_ipython_extension(ipython: Any) -> None:
    from .notebook.magics import MotorheadMagics

    ipython.register_magics(MotorheadMagics)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        module, attribute = _LAZY[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module 'motorhead_magic' has no attribute {name!r}")
