"""The usage ledger: one row per LLM call, from the records that carry it.

A chat turn's AI message carries its tokens and time in its metadata (written by the
chat layer); a summary made by a fold carries them in ``Summary.usage``. Rows here
are plain dicts in the DESIGN.md section 6 column order; ``frames.usage_frame``
makes the DataFrame.
"""

from __future__ import annotations

from typing import Any

from ..records import Message, Summary, role_kind

USAGE_COLUMNS = ("session_id", "seq", "kind", "model", "input_tokens", "output_tokens",
                 "latency_ms", "created_at")


def chat_usage_rows(messages: list[Message]) -> list[dict[str, Any]]:
    """One ledger row per AI message that records a turn (imports and hand-written
    messages have no ledger and are skipped)."""
    rows = []
    for message in messages:
        meta = message.metadata
        if role_kind(message.role) != "ai" or "total_ms" not in meta:
            continue
        rows.append({
            "session_id": message.session_id, "seq": message.seq, "kind": "chat",
            "model": str(meta.get("model", "")),
            "input_tokens": int(meta.get("input_tokens") or 0),
            "output_tokens": int(meta.get("output_tokens") or 0),
            "latency_ms": float(meta.get("total_ms") or 0.0),
            "created_at": message.created_at,
        })
    return rows


def summary_usage_rows(summaries: list[Summary]) -> list[dict[str, Any]]:
    """One ledger row per summary made by a fold (a client's context cost nothing here)."""
    rows = []
    for summary in summaries:
        usage = summary.usage
        if not usage:
            continue
        rows.append({
            "session_id": summary.session_id, "seq": summary.through_seq, "kind": "summary",
            "model": str(usage.get("model", "")),
            "input_tokens": int(usage.get("input_tokens") or 0),
            "output_tokens": int(usage.get("output_tokens") or 0),
            "latency_ms": float(usage.get("latency_ms") or 0.0),
            "created_at": summary.created_at,
        })
    return rows
