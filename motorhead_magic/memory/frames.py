"""pandas views of the memory (DESIGN.md section 6), built column-wise for speed.

pandas is imported here only, and this module only when a DataFrame is asked for,
so ``%load_ext motorhead_magic`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInput
from ..records import Hit, SessionInfo, Summary

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
    "parent": "string",
    "forked_at": "Int64",
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
    if dtype in ("string", "Int64"):
        return pd.array(values, dtype=dtype)
    return np.asarray(values, dtype=dtype)


def frame(columns: dict[str, Sequence[Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    """A DataFrame with exactly ``dtypes``' columns, in that order (also when empty)."""
    return pd.DataFrame({name: _column(columns[name], dtype) for name, dtype in dtypes.items()})


USAGE_DTYPES = {
    "session_id": "string",
    "seq": "int64",
    "kind": "string",
    "model": "string",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "latency_ms": "float64",
    "created_at": "datetime64[ns, UTC]",
}
HIT_DTYPES = {
    "session_id": "string",
    "seq": "int64",
    "role": "string",
    "content": "string",
    "score": "float64",
    "created_at": "datetime64[ns, UTC]",
    "metadata": "object",
}

REPLAY_DTYPES = {
    "turn": "int64",
    "human": "string",
    "source_reply": "string",
    "reply": "string",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "latency_ms": "float64",
    "context": "string",
}
COMPARE_DTYPES = {
    "model": "string",
    "reply": "string",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "latency_ms": "float64",
    "error": "string",
}


def rows_frame(rows: Sequence[dict[str, Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    """Rows of plain dicts as a DataFrame with these columns and dtypes (a replay, a
    comparison)."""
    return frame({name: [r.get(name) for r in rows] for name in dtypes}, dtypes)


def messages_frame(columns: dict[str, Sequence[Any]]) -> pd.DataFrame:
    """From a store's ``export_columns`` (``created_at`` as UTC microseconds)."""
    return frame(columns, MESSAGE_DTYPES)


def hits_frame(hits: Sequence[Hit]) -> pd.DataFrame:
    """Search hits, best first."""
    return frame({name: [h.score if name == "score" else getattr(h.message, name)
                         for h in hits] for name in HIT_DTYPES}, HIT_DTYPES)


def summaries_frame(summaries: Sequence[Summary]) -> pd.DataFrame:
    return frame({name: [getattr(s, name) for s in summaries] for name in SUMMARY_DTYPES},
                 SUMMARY_DTYPES)


def usage_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The usage ledger, one row per LLM call, oldest first."""
    rows = sorted(rows, key=lambda r: (r["created_at"], r["session_id"], r["seq"]))
    return frame({name: [r[name] for r in rows] for name in USAGE_DTYPES}, USAGE_DTYPES)


def with_cost(usage: pd.DataFrame, prices: dict[str, Any]) -> pd.DataFrame:
    """The usage ledger with a ``cost`` column: ``prices`` maps a model (as the ledger
    names it) to (input, output) prices per 1,000 tokens; unknown models cost NaN."""
    per_input = usage["model"].map(lambda m: _price(prices, m, 0))
    per_output = usage["model"].map(lambda m: _price(prices, m, 1))
    usage = usage.copy()
    usage["cost"] = (usage["input_tokens"] * per_input
                     + usage["output_tokens"] * per_output).astype("float64") / 1000
    return usage


def _price(prices: dict[str, Any], model: Any, which: int) -> float:
    price = prices.get(model)
    if price is None:
        return float("nan")
    if isinstance(price, (int, float)):
        return float(price)
    return float(price[which])


def sessions_frame(infos: Sequence[SessionInfo]) -> pd.DataFrame:
    return frame({name: [getattr(i, name) for i in infos] for name in SESSION_DTYPES},
                 SESSION_DTYPES)


IMPORT_REQUIRED = ("role", "content")


def _metadata_value(index: int, value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):  # e.g. a frame read back from CSV
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidInput(f"row {index}: 'metadata' is a string but not JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"row {index}: 'metadata' must be a dict, got {type(value).__name__}")
    return value


def frame_messages(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a messages DataFrame as ``memory.add`` dicts, in ``seq`` order (row
    order when there is no ``seq`` column). Raises :class:`InvalidInput` on bad input."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInput(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [name for name in IMPORT_REQUIRED if name not in df.columns]
    if missing:
        raise InvalidInput(f"DataFrame is missing column(s) {', '.join(missing)};"
                           f" it has {', '.join(map(str, df.columns)) or 'none'}")
    if "session_id" in df.columns:
        ids = pd.unique(df["session_id"].dropna())
        if len(ids) > 1:
            shown = ", ".join(repr(str(i)) for i in ids[:3])
            raise InvalidInput(f"DataFrame holds {len(ids)} sessions ({shown}, ...); import one"
                               " at a time, e.g. df[df.session_id == ...]")
    if "seq" in df.columns:
        if df["seq"].isna().any():
            raise InvalidInput("column 'seq' has missing values")
        if df["seq"].duplicated().any():
            raise InvalidInput("column 'seq' has duplicate values")
        df = df.sort_values("seq", kind="stable")
    roles = df["role"].tolist()
    contents = df["content"].tolist()
    metadata = df["metadata"].tolist() if "metadata" in df.columns else [None] * len(df)
    messages = []
    for index, (role, content, meta) in enumerate(zip(roles, contents, metadata)):
        if not isinstance(role, str) or not role:
            raise InvalidInput(f"row {index}: 'role' must be a non-empty string, got {role!r}")
        if not isinstance(content, str):
            raise InvalidInput(f"row {index}: 'content' must be a string, got {content!r}")
        messages.append({"role": role, "content": content,
                         "metadata": _metadata_value(index, meta)})
    return messages
