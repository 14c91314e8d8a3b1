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


def _row(record: Any, session_id: str, seq: int, kind: str, latency_key: str,
         created_at: Any) -> dict[str, Any]:
    """One ledger row from a record (a turn's metadata or a summary's usage)."""
    return {"session_id": session_id, "seq": seq, "kind": kind,
            "model": str(record.get("model", "")),
            "input_tokens": int(record.get("input_tokens") or 0),
            "output_tokens": int(record.get("output_tokens") or 0),
            "latency_ms": float(record.get(latency_key) or 0.0), "created_at": created_at}


def chat_usage_rows(messages: list[Message]) -> list[dict[str, Any]]:
    """One ledger row per AI message that records a turn (imports and hand-written
    messages have no ledger and are skipped)."""
    return [_row(m.metadata, m.session_id, m.seq, "chat", "total_ms", m.created_at)
            for m in messages if role_kind(m.role) == "ai" and "total_ms" in m.metadata]


def summary_usage_rows(summaries: list[Summary]) -> list[dict[str, Any]]:
    """One ledger row per summary made by a fold (a client's context cost nothing here)."""
    return [_row(s.usage, s.session_id, s.through_seq, "summary", "latency_ms", s.created_at)
            for s in summaries if s.usage]
