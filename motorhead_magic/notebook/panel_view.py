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

# Every colour is a JupyterLab theme variable with a light fallback (for frontends that do
# not define it), so the panel follows the light and dark themes. One stylesheet per panel
# (an HTML widget holding a <style> element) instead of inline styles on every bubble:
# it also keeps the widget state small.
_FONT = "var(--jp-ui-font-color1, rgba(0, 0, 0, 0.87))"
_MUTED = "var(--jp-ui-font-color2, rgba(0, 0, 0, 0.54))"
_BG = "var(--jp-layout-color1, white)"
_BG2 = "var(--jp-layout-color2, #eeeeee)"
_BORDER = "var(--jp-border-color2, #e0e0e0)"
_BRAND = "var(--jp-brand-color1, #1976d2)"
_WARN = "var(--jp-warn-color1, #f57c00)"
_ERROR = "var(--jp-error-color1, #d32f2f)"
_CONTENT = "var(--jp-content-font-color1, rgba(0, 0, 0, 0.87))"


def _tint(colour: str, percent: int) -> str:
    """``colour`` mixed into the page background: a tint that works on light and dark."""
    return f"color-mix(in srgb, {colour} {percent}%, {_BG})"


SCROLL_MAX_HEIGHT = "420px"  # the message area; the rest of the panel is a few rows

PANEL_CSS = f"""
.mhp-panel {{ background: {_BG}; color: {_FONT}; border: 1px solid {_BORDER};
  border-radius: 6px; padding: 4px 6px; box-sizing: border-box;
  font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); }}
.mhp-panel code {{ color: {_FONT}; background: {_BG2}; padding: 0 3px; border-radius: 3px;
  font-size: inherit; }}
.mhp-head {{ line-height: 1.5; padding: 2px 2px 4px; }}
.mhp-head .mhp-kv {{ display: inline-block; margin-right: 12px; overflow-wrap: anywhere; }}
.mhp-key, .mhp-meta, .mhp-note {{ color: {_MUTED}; font-size: var(--jp-ui-font-size0, 11px); }}
.mhp-note {{ line-height: 1.4; }}
.mhp-progress {{ color: {_FONT}; border-left: 3px solid {_WARN}; padding: 1px 6px;
  margin-top: 2px; background: {_tint(_WARN, 12)}; }}
.mhp-gone {{ color: {_ERROR}; font-weight: 600; }}
.mhp-lineage {{ border-left: 3px solid {_BRAND}; padding: 0 6px; margin-top: 2px; }}
.mhp-error {{ color: {_ERROR}; }}
.mhp-page-label {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  color: {_MUTED}; font-size: var(--jp-ui-font-size0, 11px); text-align: center; }}
.mhp-scroll {{ border-top: 1px solid {_BORDER}; border-bottom: 1px solid {_BORDER};
  background: {_BG}; }}
.mhp-list {{ display: flex; flex-direction: column; padding: 2px 4px; }}
.mhp-msg {{ box-sizing: border-box; max-width: 85%; margin: 3px 0; padding: 3px 9px;
  border: 1px solid {_BORDER}; border-radius: 10px; line-height: 1.45;
  white-space: pre-wrap; overflow-wrap: anywhere; color: {_CONTENT};
  font-size: var(--jp-content-font-size1, 14px); }}
.mhp-msg.mhp-human {{ align-self: flex-end; background: {_BG2};
  background: {_tint(_BRAND, 16)}; border-color: {_tint(_BRAND, 45)}; }}
.mhp-msg.mhp-ai {{ align-self: flex-start; background: {_BG2}; }}
.mhp-msg.mhp-other {{ align-self: center; background: {_BG2};
  background: {_tint(_WARN, 14)}; border-color: {_tint(_WARN, 45)}; }}
.mhp-msg.mhp-old {{ opacity: 0.7; }}
.mhp-msg.mhp-streaming, .mhp-msg.mhp-pending {{ border-style: dashed; }}
.mhp-msg .mhp-meta {{ display: block; }}
.mhp-summary {{ margin: 4px 4px; padding: 3px 9px; border-left: 3px solid {_BRAND};
  background: {_BG2}; color: {_CONTENT}; white-space: pre-wrap; overflow-wrap: anywhere;
  line-height: 1.45; font-size: var(--jp-content-font-size1, 14px); }}
.mhp-summary .mhp-meta {{ display: block; }}
.mhp-summary-text {{ display: block; max-height: 9em; overflow-y: auto; }}
.mhp-divider {{ display: flex; align-items: center; gap: 6px; margin: 4px 4px 0;
  line-height: 1.4; color: {_MUTED}; font-size: var(--jp-ui-font-size0, 11px); }}
.mhp-divider::before, .mhp-divider::after {{ content: ""; flex: 1; border-top: 1px dashed
  {_BORDER}; }}
.mhp-empty {{ color: {_MUTED}; padding: 6px 4px; line-height: 1.4; }}
"""


def style_html() -> str:
    """The panel's stylesheet, as the value of one (hidden) HTML widget."""
    return f"<style>{' '.join(PANEL_CSS.split())}</style>"


@dataclass(frozen=True)
class SessionSnapshot:
    """One consistent read of a session: everything a render needs, fetched once."""

    session_id: str | None
    view: MemoryView | None
    message_count: int
    summary_count: int
    session_ids: tuple[str, ...]  # every session, least recently written first
    parent: str | None = None  # the session this one was forked from
    forked_at: int | None = None  # the parent's last message copied into the fork

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
        return SessionSnapshot(session_id, view, info.messages, info.summaries, ids,
                               info.parent, info.forked_at)
    # not written yet (or just deleted)
    return SessionSnapshot(session_id, view, view.message_count, 1 if view.summary else 0, ids)


def lineage_text(snap: SessionSnapshot) -> str:
    """Where a fork came from ("fork of band at #5"); "" for a session that is no fork."""
    if snap.parent is None:
        return ""
    text = f"fork of {snap.parent}"
    if snap.forked_at is not None:
        text += f" at #{snap.forked_at:,}"
    if snap.parent not in snap.session_ids:
        text += f" (session {snap.parent} no longer exists)"
    return text


def plural(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {word[:-1] + 'ies' if word.endswith('y') else word + 's'}"


def when(moment: datetime | None) -> str:
    """Local time with its zone, as the sidebar shows times (the kernel's clock)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if moment else ""


def last_turn_text(snap: SessionSnapshot) -> str:
    """What the newest recorded turn in the window cost: ``last turn: 412 in / 37 out
    tokens · 1.24 s (first token 0.31 s)``; empty without one."""
    for message in reversed(snap.view.messages if snap.view else []):
        meta = message.metadata
        if "total_ms" in meta:
            first = meta.get("first_token_ms")
            return (f"last turn: {meta.get('input_tokens', 0):,} in / "
                    f"{meta.get('output_tokens', 0):,} out tokens · "
                    f"{meta['total_ms'] / 1000:.2f} s"
                    + (f" (first token {first / 1000:.2f} s)" if first is not None else ""))
    return ""


def last_recall(snap: SessionSnapshot) -> dict[str, Any] | None:
    """What the newest recorded turn in the window recalled, from its provenance:
    ``{"seq": the AI message, "retrieved": [seqs], "k": k, "skipped"/"note": why}``;
    None for a turn without recall (or no turn)."""
    for message in reversed(snap.view.messages if snap.view else []):
        seen = message.metadata.get("seen")
        if isinstance(seen, dict):
            recall = seen.get("recall")
            if not isinstance(recall, dict):
                return None
            return {**recall, "seq": message.seq, "retrieved": list(seen.get("retrieved") or [])}
    return None


def recall_text(recall: dict[str, Any]) -> str:
    """``the last turn (#9) also recalled #2, #3`` or why it recalled nothing."""
    turn = f"the last turn (#{recall['seq']})"
    if recall.get("skipped"):
        text = f"{turn} recalled nothing: the search failed ({recall['skipped']})"
    elif recall["retrieved"]:
        text = f"{turn} also recalled " + ", ".join(f"#{seq}" for seq in recall["retrieved"])
    else:
        text = f"{turn} recalled nothing: no earlier message matched"
    return text + (f" · {recall['note']}" if recall.get("note") else "")


def message_state(message: Message, in_window: bool) -> str:
    if in_window:
        return "window"
    return "summarized" if message.summarized else "outside window, not summarized"


def bubble_kind(role: str) -> str:
    kind = role_kind(role)
    return kind if kind in ("human", "ai") else "other"


def bubble_html(message: Message, state: str) -> str:
    old = "" if state == "window" else " mhp-old"
    meta = (f"#{message.seq} · {message.role} · {message.tokens} tokens · "
            f"{when(message.created_at)}" + ("" if state == "window" else f" · {state}"))
    return (
        f'<div class="mhp-msg mhp-{bubble_kind(message.role)}{old}" data-seq="{message.seq}">'
        f'<span class="mhp-meta">{html.escape(meta)}</span>'
        f'<span class="mhp-content">{html.escape(shorten(message.content))}</span></div>'
    )


def messages_html(messages: Sequence[Message], in_window: bool, empty: str) -> str:
    if not messages:
        return f'<div class="mhp-empty">{html.escape(empty)}</div>' if empty else ""
    bubbles = "".join(bubble_html(m, message_state(m, in_window)) for m in messages)
    return f'<div class="mhp-list">{bubbles}</div>'


def _live_bubble(kind: str, extra: str, meta: str, text: str) -> str:
    return (f'<div class="mhp-list"><div class="mhp-msg mhp-{kind} {extra}">'
            f'<span class="mhp-meta">{meta}</span>'
            f'<span class="mhp-content">{html.escape(shorten(text))}</span></div></div>')


def streaming_html(partial: str) -> str:
    return _live_bubble("ai", "mhp-streaming", "AI · replying…", partial)


def pending_human_html(text: str) -> str:
    """The prompt of a turn sent from the panel, shown until the turn is stored."""
    return _live_bubble("human", "mhp-pending", "Human · sending…", text)


def header_html(memory: Memory, snap: SessionSnapshot, model_label: str,
                progress: Sequence[str] = (), deleted: str | None = None) -> str:
    """Session, model, window size and backend on one wrapped line; where a fork came
    from ("fork of band at #5"); the totals; what runs in the background
    (``progress``: one line each); or that the session is gone."""
    pairs = [
        ("session", snap.session_id or "(none: pick one or write to a session first)"),
        ("model", model_label or "(not set)"),
        ("window size", str(memory.window_size)),
        ("backend", memory.url),
    ]
    cells = "".join(
        f'<span class="mhp-kv"><span class="mhp-key">{name}</span> '
        f"<code>{html.escape(value)}</code></span>"
        for name, value in pairs
    )
    lines = [f'<div class="mhp-header">{cells}</div>']
    if deleted is not None:
        lines.append(f'<div class="mhp-gone">{html.escape(deleted_text(deleted))}</div>')
    else:
        lineage = lineage_text(snap)
        if lineage:
            lines.append(f'<div class="mhp-lineage mhp-meta">{html.escape(lineage)}</div>')
        lines.append(totals_html(snap))
    lines += [f'<div class="mhp-progress">{html.escape(text)}</div>' for text in progress]
    return f'<div class="mhp-head">{"".join(lines)}</div>'


def deleted_text(session_id: str) -> str:
    return f"session {session_id} was deleted"


def deleted_html(session_id: str) -> str:
    return (f'<div class="mhp-empty"><span class="mhp-gone">{html.escape(deleted_text(session_id))}'
            "</span>: nothing left to show. Pick another session, or send a message to start"
            " it again.</div>")


def totals_html(snap: SessionSnapshot) -> str:
    view = snap.view
    shown = len(view.messages) if view else 0
    spent = view.tokens if view else 0
    text = (f"{plural(snap.message_count, 'message')} · window {plural(shown, 'message')}, "
            f"{snap.window_tokens:,} tokens · {plural(snap.summary_count, 'summary')}, "
            f"{spent:,} tokens spent summarizing")
    turn = last_turn_text(snap)
    if turn:
        text += f" · {turn}"
    return f'<div class="mhp-totals mhp-meta">{html.escape(text)}</div>'


def summary_html(summary: Summary | None, context: str | None) -> str:
    if summary is None and not context:
        return '<div class="mhp-divider">No summary yet.</div>'
    covers = (f"covers messages #0–#{summary.through_seq}" if summary and summary.through_seq >= 0
              else "covers no messages (set by a client)")
    made = f"made {when(summary.created_at)}" if summary else ""
    spent = f" · {summary.tokens_used} tokens spent" if summary else ""
    text = context if context is not None else summary.context if summary else ""
    return (
        f'<div class="mhp-summary"><span class="mhp-meta">Running summary · {covers} · '
        f'{made}{spent}</span><span class="mhp-summary-text">{html.escape(shorten(text))}'
        "</span></div>"
    )


def divider_html(text: str) -> str:
    return f'<div class="mhp-divider">{html.escape(text)}</div>'


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
        f"window tokens {snap.window_tokens:,} · "
        f"{snap.view.tokens if snap.view else 0:,} tokens spent summarizing",
    ]
    lineage = lineage_text(snap)
    if lineage:
        lines.insert(1, lineage)
    lines += [f"background: {text}" for text in progress_lines(memory, snap.session_id)]
    recall = last_recall(snap)
    lines += [recall_text(recall)] if recall else []
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


def progress_lines(memory: Memory, session_id: str | None) -> list[str]:
    """What background summarization of the session is doing now, one line each."""
    if session_id is None:
        return []
    return [p.describe() for p in memory.progress(session_id)]


def _text_line(message: Message) -> str:
    tag = " [summarized]" if message.summarized else ""
    return f"#{message.seq} {message.role} ({message.tokens} tok){tag}: {shorten(message.content)}"


def note_html(text: str, error: bool = False) -> str:
    kind = "mhp-note mhp-error" if error else "mhp-note"
    return f'<span class="{kind}">{html.escape(text, quote=False)}</span>' if text else ""


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
    receives when it is displayed (a model shared by several widgets is sent once)."""
    models = {id(w): w for w in descendants(widget)}
    return sum(len(json.dumps(w.get_state(), default=str)) for w in models.values())
