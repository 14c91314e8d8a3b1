"""pandas views of the memory (DESIGN.md section 6), built column-wise for speed.

pandas is imported here only, and this module only when a DataFrame is asked for,
so ``%load_ext motorhead_magic`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .model import SessionInfo, Summary

MESSAGE_DTYPES = {
    "session_id": "string",
    "seq": "int64",
    "role": "string",
    "content": "string",
    "tokens": "int64",
    "created_at": "datetime64[ns, UTC]",
    "summarized": "bool",
    "metadata": "object",
}
SUMMARY_DTYPES = {
    "session_id": "string",
    "through_seq": "int64",
    "context": "string",
    "tokens_used": "int64",
    "created_at": "datetime64[ns, UTC]",
}
SESSION_DTYPES = {
    "session_id": "string",
    "messages": "int64",
    "summaries": "int64",
    "last_write": "datetime64[ns, UTC]",
    "window_tokens": "int64",
}


def _column(values: Sequence[Any], dtype: str) -> Any:
    if dtype.startswith("datetime64"):
        if values and not isinstance(values[0], (int, np.integer)):
            return pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype(dtype)
        return pd.to_datetime(np.asarray(values, dtype="int64"), unit="us", utc=True).astype(dtype)
    if dtype == "object":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    return pd.array(values, dtype=dtype) if dtype == "string" else np.asarray(values, dtype=dtype)


def frame(columns: dict[str, Sequence[Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    """A DataFrame with exactly ``dtypes``' columns, in that order (also when empty)."""
    return pd.DataFrame({name: _column(columns[name], dtype) for name, dtype in dtypes.items()})


def messages_frame(columns: dict[str, Sequence[Any]]) -> pd.DataFrame:
    """From a store's ``export_columns`` (``created_at`` as UTC microseconds)."""
    return frame(columns, MESSAGE_DTYPES)


def summaries_frame(summaries: Sequence[Summary]) -> pd.DataFrame:
    return frame({name: [getattr(s, name) for s in summaries] for name in SUMMARY_DTYPES},
                 SUMMARY_DTYPES)


def sessions_frame(infos: Sequence[SessionInfo]) -> pd.DataFrame:
    return frame({name: [getattr(i, name) for i in infos] for name in SESSION_DTYPES},
                 SESSION_DTYPES)
