"""Motörhead-style conversation memory for Jupyter.

``import motorhead_magic as mh; memory = mh.connect()`` gives the Python API;
``%load_ext motorhead_magic`` the ``%%motorhead`` magics. Heavy modules
(LangChain, pandas, widgets, llama.cpp) load only when first used.
"""

from __future__ import annotations

from typing import Any

from .memory import Memory, connect
from .model import (
    InvalidInput,
    MemoryView,
    Message,
    MotorheadError,
    SessionInfo,
    StoreUnavailable,
    Summary,
)

__version__ = "0.1.0"

__all__ = [
    "InvalidInput",
    "Memory",
    "MemoryView",
    "Message",
    "MotorheadError",
    "Panel",
    "SessionInfo",
    "StoreUnavailable",
    "Summary",
    "connect",
    "load_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    from .magics import MotorheadMagics

    ipython.register_magics(MotorheadMagics)


def __getattr__(name: str) -> Any:
    if name == "Panel":
        from .panel import Panel

        return Panel
    raise AttributeError(f"module 'motorhead_magic' has no attribute {name!r}")
