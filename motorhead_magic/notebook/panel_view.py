"""What the panel shows, as HTML (for the widget) and as plain text (for terminal IPython).

Pure functions of plain data: no widgets here, so the rendering is testable and
reusable. Message content and summaries are untrusted (they come from users and
models), so every string goes through :func:`html.escape` before it is shown.
Long contents are cut at :data:`MAX_SHOWN_CHARS` so that the widget state sent
to the browser stays bounded however big a message is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..memory import Memory
from ..records import MemoryView, Message, Summary, role_kind
from .render import shorten

_BUBBLE_STYLE = {
    "human": "margin-left:18%;background:#dbeafe;border-color:#93c5fd",
    "ai": "margin-right:18%;background:#f3f4f6;border-color:#d1d5db",
    "other": "margin:0 9%;background:#fef9c3;border-color:#fde047",
}
_BOX = ("border:1px solid;border-radius:10px;padding:4px 10px;margin-top:4px;margin-bottom:4px;"
        "white-space:pre-wrap;word-wrap:break-word;color:#111827")
_META = "font-size:11px;color:#6b7280"


@dataclass(frozen=True)
class SessionSnapshot:
    """One consistent read of a session: everything a render needs, fetched once."""

    session_id: str | None
    view: MemoryView | None
    message_count: int
    summary_count: int
    session_ids: tuple[str, ...]  # every session, least recently written first

    @property
    def window_start(self) -> int:
        """Seq of the first window message (== message_count when the window is empty)."""
        if self.view and self.view.messages:
            return self.view.messages[0].seq
        return self.message_count

    @property
    def window_tokens(self) -> int:
        return sum(m.tokens for m in self.view.messages) if self.view else 0


def snapshot(memory: Memory, session_id: str | None) -> SessionSnapshot:
    """Read a session cheaply: its window plus counts, never its whole history."""
    ids = tuple(memory.sessions())
    if session_id is None:
        return SessionSnapshot(None, None, 0, 0, ids)
    view = memory.get(session_id)
    info = next(iter(memory.session_infos([session_id])), None)
    if info is not None:
        count, summaries = info.messages, info.summaries
    else:  # not written yet (or just deleted)
        count, summaries = view.message_count, 1 if view.summary else 0
    return SessionSnapshot(session_id, view, count, summaries, ids)


def plural(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {word[:-1] + 'ies' if word.endswith('y') else word + 's'}"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def message_state(message: Message, in_window: bool) -> str:
    if in_window:
        return "window"
    return "summarized" if message.summarized else "outside window, not summarized"


def bubble_html(message: Message, state: str) -> str:
    kind = role_kind(message.role)
    kind = kind if kind in ("human", "ai") else "other"
    dim = "" if state == "window" else "opacity:0.65;"
    meta = (f"#{message.seq} · {html.escape(message.role)} · {message.tokens} tokens · "
            f"{when(message.created_at)}" + ("" if state == "window" else f" · {state}"))
    return (
        f'<div class="mhp-msg mhp-{kind}" data-seq="{message.seq}" '
        f'style="{_BOX};{_BUBBLE_STYLE[kind]};{dim}">'
        f'<div style="{_META}">{meta}</div>'
        f'<div class="mhp-content">{html.escape(shorten(message.content))}</div></div>'
    )


def messages_html(messages: Sequence[Message], in_window: bool, empty: str) -> str:
    if not messages:
        return f'<div style="{_META}">{html.escape(empty)}</div>'
    return "".join(bubble_html(m, message_state(m, in_window)) for m in messages)


def streaming_html(partial: str) -> str:
    return (
        f'<div class="mhp-msg mhp-ai mhp-streaming" style="{_BOX};{_BUBBLE_STYLE["ai"]};'
        f'border-style:dashed"><div style="{_META}">AI · replying…</div>'
        f'<div class="mhp-content">{html.escape(shorten(partial))}</div></div>'
    )


def pending_human_html(text: str) -> str:
    """The prompt of a turn sent from the panel, shown until the turn is stored."""
    return (
        f'<div class="mhp-msg mhp-human mhp-pending" style="{_BOX};{_BUBBLE_STYLE["human"]};'
        f'border-style:dashed"><div style="{_META}">Human · sending…</div>'
        f'<div class="mhp-content">{html.escape(shorten(text))}</div></div>'
    )


def header_html(memory: Memory, snap: SessionSnapshot, model_label: str) -> str:
    rows = [
        ("session", snap.session_id or "(none: pick one or write to a session first)"),
        ("backend", memory.url),
        ("model", model_label or "(not set)"),
        ("window size", str(memory.window_size)),
    ]
    cells = "".join(
        f'<tr><td style="{_META};padding-right:8px">{name}</td>'
        f"<td><code>{html.escape(value)}</code></td></tr>"
        for name, value in rows
    )
    return f'<table class="mhp-header">{cells}</table>{totals_html(snap)}'


def totals_html(snap: SessionSnapshot) -> str:
    view = snap.view
    shown = len(view.messages) if view else 0
    spent = view.tokens if view else 0
    text = (f"{plural(snap.message_count, 'message')} · window {plural(shown, 'message')}, "
            f"{snap.window_tokens:,} tokens · {plural(snap.summary_count, 'summary')}, "
            f"{spent:,} LLM tokens spent summarizing")
    return f'<div class="mhp-totals" style="{_META}">{html.escape(text)}</div>'


def summary_html(summary: Summary | None, context: str | None) -> str:
    if summary is None and not context:
        return f'<div class="mhp-summary" style="{_META}">No summary yet.</div>'
    covers = (f"covers messages #0–#{summary.through_seq}" if summary and summary.through_seq >= 0
              else "covers no messages (set by a client)")
    made = f"made {when(summary.created_at)}" if summary else ""
    spent = f" · {summary.tokens_used} tokens spent" if summary else ""
    text = context if context is not None else summary.context if summary else ""
    return (
        f'<div class="mhp-summary" style="border-left:4px solid #a78bfa;padding:4px 10px;'
        f'background:#f5f3ff;white-space:pre-wrap;color:#111827">'
        f'<div style="{_META}">Running summary · {covers} · {made}{spent}</div>'
        f'<div class="mhp-summary-text">{html.escape(shorten(text))}</div></div>'
    )


def render_text(memory: Memory, session_id: str | None, *, older: int = 0) -> str:
    """A plain-text view of a session (the panel where no widget frontend exists).

    Shows the header, the running summary and the window; ``older`` more messages
    from before the window can be included too.
    """
    snap = snapshot(memory, session_id)
    lines = [
        f"motorhead session: {snap.session_id or '(none)'}",
        f"backend: {memory.url} · window size: {memory.window_size}",
        f"{plural(snap.message_count, 'message')} · {plural(snap.summary_count, 'summary')} · "
        f"window tokens {snap.window_tokens:,} · summary tokens spent "
        f"{snap.view.tokens if snap.view else 0:,}",
    ]
    view = snap.view
    if view is None:
        return "\n".join(lines)
    if view.summary is not None or view.context:
        through = view.summary.through_seq if view.summary else -1
        made = when(view.summary.created_at) if view.summary else ""
        lines += ["", f"-- summary (through #{through}, {made}) --", shorten(view.context or "")]
    start = snap.window_start
    first = max(0, start - max(older, 0))
    if first < start:
        lines += ["", f"-- older messages #{first}–#{start - 1} --"]
        lines += [_text_line(m) for m in memory.history(view.session_id, first, start - first)]
    not_shown = f"; {first:,} older not shown" if first else ""
    lines += ["", f"-- window ({plural(len(view.messages), 'message')}{not_shown}) --"]
    lines += [_text_line(m) for m in view.messages] or ["(empty)"]
    return "\n".join(lines)


def _text_line(message: Message) -> str:
    tag = " [summarized]" if message.summarized else ""
    return f"#{message.seq} {message.role} ({message.tokens} tok){tag}: {shorten(message.content)}"


def note_html(text: str) -> str:
    return f'<span style="{_META}">{html.escape(text)}</span>'


def descendants(widget: Any) -> Iterator[Any]:
    """A widget, its children (recursively) and their layout and style widgets."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)
    for part in ("layout", "style"):
        value = getattr(widget, part, None)
        if hasattr(value, "get_state"):
            yield value


def widget_state_bytes(widget: Any) -> int:
    """JSON size of the state of ``widget`` and everything inside it: what the browser
    receives when it is displayed."""
    return sum(len(json.dumps(w.get_state(), default=str)) for w in descendants(widget))
