"""Storage backends behind the engine: :class:`~.base.Store` and its implementations."""

from .base import FoldState, Store

__all__ = ["FoldState", "Store"]
