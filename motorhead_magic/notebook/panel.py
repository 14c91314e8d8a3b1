"""The live memory panel: an ipywidgets VBox showing one session of a Memory.

Live updates and thread safety: ``memory.subscribe`` calls us from whichever
thread wrote (the kernel's main thread for a turn, the fold worker for a
summary). An event only marks the panel dirty; a flush then re-reads the
session once and replaces each widget's value whole. Flushes are coalesced and
throttled (at most one per ``min_interval`` seconds; later events within that
interval are picked up by one timer-driven flush), so a burst of events or
many ``stream()`` calls a second cost one render. Renders are serialised by a
lock, so two threads never interleave widget changes. Sending the resulting
comm messages from a non-main thread is safe because ipykernel routes every
IOPub send through its IOPub thread (the mechanism behind ipywidgets' own
"update a widget from a background thread" pattern); and since each change is a
whole-value replacement, the browser always shows one consistent render.

Scale: the panel never reads a whole history. It shows the window (at most
``window_size`` messages) and one page of older messages (``history(sid,
start, limit)``), with contents cut at a fixed length, so the widget state sent
to the browser is bounded whatever the session's size.
"""

from __future__ import annotations

import html
import keyword
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import ipywidgets as widgets

from ..memory import Memory
from .panel_view import (
    SessionSnapshot,
    descendants,
    header_html,
    messages_html,
    note_html,
    pending_human_html,
    render_text,
    snapshot,
    streaming_html,
    summary_html,
    widget_state_bytes,
)

__all__ = ["Panel", "render_text", "widget_state_bytes"]

SendFunction = Callable[[str, str], Any]

_HIDDEN = "none"


def _show(widget: widgets.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else _HIDDEN


class Panel(widgets.VBox):
    """A live view of one session: header, summary, older messages (paged), window,
    the turn in progress, and controls (session picker, refresh, send, export, delete).

    ``send(session_id, text) -> reply`` runs a chat turn; without it the prompt box is
    disabled. ``namespace`` is where Export puts DataFrames (default: the IPython
    user namespace).
    """

    def __init__(
        self,
        memory: Memory,
        session_id: str | None = None,
        *,
        model_label: str = "",
        send: SendFunction | None = None,
        page_size: int = 20,
        namespace: MutableMapping[str, Any] | None = None,
        min_interval: float = 0.1,
    ) -> None:
        super().__init__()
        self.add_class("mhp-panel")
        self.memory = memory
        self.model_label = model_label
        self.page_size = max(1, int(page_size))
        self.min_interval = min_interval
        self.session_id = session_id if session_id else self._latest_session()
        self.page_start: int | None = None  # None: the page just before the window
        self._send_turn = send
        self._namespace = namespace
        self._partial: str | None = None  # the AI reply being streamed
        self._pending_human: str | None = None  # the prompt of a turn sent from the panel
        self._snapshot = SessionSnapshot(None, None, 0, 0, ())
        self._render_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._dirty_full = False
        self._timer: threading.Timer | None = None
        self._last_flush = 0.0
        self._closed = False
        self._syncing_picker = False
        self._build()
        self._unsubscribe = memory.subscribe(self._on_event)
        self.refresh()

    # -- public API ---------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the session from the memory and re-render everything now."""
        self._flush(force_full=True)

    def stream(self, session_id: str, partial_reply_text: str) -> None:
        """Show a turn in progress (the reply so far); cheap to call many times a second."""
        if session_id != self.session_id or self._closed:
            return
        self._partial = partial_reply_text
        self._request(full=False)

    def flush(self) -> None:
        """Apply pending live updates now instead of at the next throttle tick."""
        self._flush()

    def show_session(self, session_id: str | None) -> None:
        """Switch the panel to another session (as the picker does)."""
        self.session_id = session_id or None
        self.page_start = None
        self._partial = self._pending_human = None
        self._hide_confirm()
        self.refresh()

    def close(self) -> None:
        """Stop listening to the memory and close every child widget."""
        self._closed = True
        self._unsubscribe()
        with self._state_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for widget in list(descendants(self))[1:]:
            widget.close()
        super().close()

    # -- building -----------------------------------------------------------------

    def _build(self) -> None:
        W = widgets  # noqa: N806 - short alias for the many constructors below
        self._header = W.HTML(layout=W.Layout(width="100%")).add_class("mhp-header-box")
        self._picker = W.Dropdown(description="session", layout=W.Layout(width="auto"))
        self._picker.add_class("mhp-picker")
        self._picker.observe(self._on_pick, names="value")
        self._refresh_button = W.Button(description="Refresh", icon="refresh",
                                        tooltip="Re-read the session").add_class("mhp-refresh")
        self._refresh_button.on_click(lambda _: self.refresh())
        self._delete_button = W.Button(description="Delete…", icon="trash",
                                       button_style="danger").add_class("mhp-delete")
        self._delete_button.on_click(self._ask_delete)
        self._confirm_label = W.HTML()
        self._confirm_button = W.Button(description="Confirm delete",
                                        button_style="danger").add_class("mhp-confirm")
        self._confirm_button.on_click(self._confirm_delete)
        self._cancel_button = W.Button(description="Cancel").add_class("mhp-cancel")
        self._cancel_button.on_click(lambda _: self._hide_confirm())
        self._confirm_box = W.HBox([self._confirm_label, self._confirm_button,
                                    self._cancel_button]).add_class("mhp-confirm-box")
        _show(self._confirm_box, False)
        toolbar = W.HBox([self._picker, self._refresh_button, self._delete_button])

        self._summary = W.HTML(layout=W.Layout(width="100%")).add_class("mhp-summary-box")
        self._older_button = W.Button(description="◀ older",
                                      layout=W.Layout(width="auto")).add_class("mhp-older-button")
        self._older_button.on_click(lambda _: self._page(-1))
        self._newer_button = W.Button(description="newer ▶",
                                      layout=W.Layout(width="auto")).add_class("mhp-newer-button")
        self._newer_button.on_click(lambda _: self._page(+1))
        self._page_label = W.HTML().add_class("mhp-page-label")
        self._pager = W.HBox([self._older_button, self._page_label, self._newer_button])
        self._older = W.HTML(layout=W.Layout(width="100%")).add_class("mhp-older")
        self._window_label = W.HTML()
        self._window = W.HTML(layout=W.Layout(width="100%")).add_class("mhp-window")
        self._streaming = W.HTML(layout=W.Layout(width="100%")).add_class("mhp-stream")

        self._prompt = W.Textarea(placeholder="Message (Send runs a turn)",
                                  layout=W.Layout(width="80%", height="60px"))
        self._prompt.add_class("mhp-prompt")
        self._send_button = W.Button(description="Send", icon="paper-plane",
                                     button_style="primary").add_class("mhp-send")
        self._send_button.on_click(self._on_send)
        self._send_hint = W.HTML()
        if self._send_turn is None:
            self._prompt.disabled = self._send_button.disabled = True
            self._send_hint.value = note_html("Sending needs a chat model: use %motorhead panel,"
                                          " or Panel(memory, sid, send=...).")
        prompt_row = W.HBox([self._prompt, self._send_button])

        self._export_name = W.Text(value="df", description="export to",
                                   layout=W.Layout(width="240px")).add_class("mhp-export-name")
        self._export_button = W.Button(description="Export DataFrame",
                                       icon="table").add_class("mhp-export")
        self._export_button.on_click(self._on_export)
        export_row = W.HBox([self._export_name, self._export_button])
        self._status = W.HTML().add_class("mhp-status")

        self.children = [
            self._header, toolbar, self._confirm_box, self._summary, self._pager, self._older,
            self._window_label, self._window, self._streaming, prompt_row, self._send_hint,
            export_row, self._status,
        ]

    # -- live updates -------------------------------------------------------------

    def _on_event(self, event: str, session_id: str) -> None:
        if self._closed:
            return
        if session_id == self.session_id and event in ("write", "delete"):
            self._partial = None  # the streamed turn (if any) is now stored, or gone
        self._request(full=True)

    def _request(self, full: bool) -> None:
        """Coalesce: flush now if the last flush is old enough, else once, later."""
        with self._state_lock:
            self._dirty_full |= full
            if self._timer is not None:
                return  # the scheduled flush will see this change too
            wait = self._last_flush + self.min_interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()
                return
        self._flush()

    def _flush(self, force_full: bool = False) -> None:
        with self._state_lock:
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
            full, self._dirty_full = self._dirty_full or force_full, False
            self._last_flush = time.monotonic()
        if self._closed:
            return
        with self._render_lock:
            try:
                if full:
                    self._render()
                else:
                    self._render_stream()
            except Exception as exc:  # a failing store must not break the caller's write
                self._set_status(f"Could not read the memory: {type(exc).__name__}: {exc}",
                                 error=True)

    # -- rendering ----------------------------------------------------------------

    def _render(self) -> None:
        snap = snapshot(self.memory, self.session_id)
        self._snapshot = snap
        self._sync_picker()
        self._header.value = header_html(self.memory, snap, self.model_label)
        view = snap.view
        self._summary.value = summary_html(view.summary if view else None,
                                           view.context if view else None)
        self._render_older(snap)
        shown = len(view.messages) if view else 0
        self._window_label.value = note_html(
            f"Window: the newest {shown} unsummarized message(s) the model sees"
            f" (at most {self.memory.window_size})")
        self._window.value = messages_html(view.messages if view else [], True,
                                           "No messages in the window yet.")
        self._render_stream()
        has_session = snap.session_id is not None
        self._delete_button.disabled = not has_session
        self._export_button.disabled = not has_session
        if self._send_turn is not None:
            self._send_button.disabled = not has_session or self._pending_human is not None

    def _page_bounds(self, window_start: int) -> tuple[int, int]:
        last_page = max(0, window_start - self.page_size)
        start = last_page if self.page_start is None else min(self.page_start, last_page)
        return start, min(start + self.page_size, window_start)

    def _render_older(self, snap: SessionSnapshot) -> None:
        older = snap.window_start
        _show(self._pager, older > 0)
        _show(self._older, older > 0)
        if older == 0 or snap.session_id is None:
            self._older.value = ""
            return
        start, end = self._page_bounds(older)
        page = self.memory.history(snap.session_id, start, end - start)
        self._page_label.value = note_html(
            f"older messages #{start}–#{end - 1} of {older:,} before the window")
        self._older_button.disabled = start == 0
        self._newer_button.disabled = end >= older
        self._older.value = messages_html(page, False, "")

    def _render_stream(self) -> None:
        parts = []
        if self._pending_human is not None:
            parts.append(pending_human_html(self._pending_human))
        if self._partial is not None:
            parts.append(streaming_html(self._partial))
        self._streaming.value = "".join(parts)
        _show(self._streaming, bool(parts))

    def _sync_picker(self) -> None:
        ids = list(self._snapshot.session_ids)
        if self.session_id is not None and self.session_id not in ids:
            ids.append(self.session_id)
        self._syncing_picker = True
        try:
            if tuple(self._picker.options) != tuple(ids):
                self._picker.options = ids
            self._picker.value = self.session_id
        finally:
            self._syncing_picker = False

    def _latest_session(self) -> str | None:
        ids = self.memory.sessions()
        return ids[-1] if ids else None

    def _set_status(self, text: str, error: bool = False) -> None:
        color = "#b91c1c" if error else "#374151"
        self._status.value = (f'<span style="color:{color}">{html.escape(text, quote=False)}</span>'
                              if text else "")

    # -- controls -----------------------------------------------------------------

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._syncing_picker and change["new"] != self.session_id:
            self.show_session(change["new"])

    def _page(self, direction: int) -> None:
        start, _ = self._page_bounds(self._snapshot.window_start)
        new_start = max(0, start + direction * self.page_size)
        last_page = max(0, self._snapshot.window_start - self.page_size)
        self.page_start = None if new_start >= last_page else new_start
        self.refresh()

    def _on_send(self, _button: Any = None) -> None:
        text = self._prompt.value.strip()
        if self._send_turn is None or self.session_id is None:
            self._set_status("Nothing to send to: no chat model or no session.", error=True)
            return
        if not text:
            self._set_status("Type a message first.", error=True)
            return
        session_id = self.session_id
        self._prompt.value = ""
        self._pending_human, self._partial = text, None
        self._send_button.disabled = True
        self._set_status("Sending…")
        self._flush()
        try:
            self._send_turn(session_id, text)
        except Exception as exc:
            self._prompt.value = text  # give the text back so nothing typed is lost
            self._set_status(f"Send failed: {type(exc).__name__}: {exc}", error=True)
        else:
            self._set_status("")
        finally:
            self._pending_human = self._partial = None
            self.refresh()

    def _on_export(self, _button: Any = None) -> None:
        name = self._export_name.value.strip()
        if not name.isidentifier() or keyword.iskeyword(name):
            self._set_status(f"{name!r} is not a valid Python variable name.", error=True)
            return
        namespace = self._namespace if self._namespace is not None else _user_namespace()
        if namespace is None or self.session_id is None:
            self._set_status("No IPython namespace to export into; use"
                             " memory.to_dataframe(session_id) instead.", error=True)
            return
        frame = self.memory.to_dataframe(self.session_id)
        namespace[name] = frame
        self._set_status(f"{name} = DataFrame of session {self.session_id!r}"
                         f" ({len(frame):,} rows)")

    def _ask_delete(self, _button: Any = None) -> None:
        if self.session_id is None:
            return
        count = self._snapshot.message_count
        self._confirm_label.value = (
            f"Delete session <b>{html.escape(self.session_id)}</b> and all its {count:,}"
            " messages and summaries? This cannot be undone.")
        _show(self._confirm_box, True)

    def _confirm_delete(self, _button: Any = None) -> None:
        session_id = self.session_id
        self._hide_confirm()
        if session_id is None:
            return
        self.memory.delete(session_id)
        self._set_status(f"Deleted session {session_id!r}.")
        self.refresh()

    def _hide_confirm(self) -> None:
        _show(self._confirm_box, False)
        self._confirm_label.value = ""


def _user_namespace() -> MutableMapping[str, Any] | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell.user_ns if shell is not None else None
