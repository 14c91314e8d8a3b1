"""The live memory panel: an ipywidgets VBox showing one session of a Memory.

Live updates and thread safety: ``memory.subscribe`` calls us from whichever thread wrote (the
kernel's main thread for a turn, the fold worker for a summary). An event only marks the panel
dirty; a flush then re-reads the session once and replaces each widget's value whole. Flushes
are coalesced and throttled (at most one per ``min_interval`` seconds; later events within
that interval are picked up by one timer-driven flush), so a burst of events or many
``stream()`` calls a second cost one render. Renders are serialised by a lock, so two threads
never interleave widget changes. Sending the resulting comm messages from a non-main thread
is safe because ipykernel routes every IOPub send through its IOPub thread (the mechanism
behind ipywidgets' own "update a widget from a background thread" pattern); and since each
change is a whole-value replacement, the browser always shows one consistent render.

Scale: the panel never reads a whole history. It shows the window (at most ``window_size``
messages) and one page of older messages (``history(sid, start, limit)``), with contents cut
at a fixed length, so the widget state sent to the browser is bounded whatever the session's
size. Layout and style models that never change one by one are shared between widgets (the
browser gets each once; :mod:`.panel_widgets` builds the widgets, :mod:`.panel_actions` is
what its controls do, this module makes them live).

Events: "write", "fold" and "delete" re-render everything; "progress" (a background fold
advanced a chunk) only the header, whose status line comes from
``memory.progress(session_id)`` (a last "progress" event says the work is over). While a
status line shows, a timer also looks again every ``progress_interval`` seconds, so a retry's
countdown moves. A "delete" of the shown session (or a refresh that finds a session it had
seen with messages gone) makes the panel say so instead of showing stale messages.

Reconnects: :meth:`Panel.follow` moves an open panel to a new Memory object; a callable
``model_label`` is asked at every render.

Where widgets cannot render (nbconvert, GitHub, terminals) the display's
``text/plain`` is :func:`render_text`, not ipywidgets' ``Panel(children=...`` repr.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from ..memory import Memory
from .panel_actions import PanelActions, SendFunction
from .panel_view import (
    SessionSnapshot,
    deleted_html,
    deleted_text,
    descendants,
    divider_html,
    header_html,
    messages_html,
    pending_human_html,
    progress_lines,
    render_text,
    snapshot,
    streaming_html,
    summary_html,
    widget_state_bytes,
)
from .panel_widgets import set_visible, short_id

__all__ = ["Panel", "render_text", "widget_state_bytes"]

ModelLabel = str | Callable[[], str]

class Panel(PanelActions):
    """A live view of one session: header, summary, older messages (paged), window,
    the turn in progress, and controls (session picker, a fork's parent, refresh, send,
    export, delete, search). A fork says where it came from in the header ("fork of band at
    #5"); its parent button shows the parent, as the picker would. Under the window: what
    the last turn recalled (:mod:`.panel_search`).

    A compact chat view: the messages scroll in an area of bounded height that keeps
    the newest message in view (a ``column-reverse`` flex box: no JavaScript), with
    the prompt and Send below it; colours are JupyterLab theme variables.

    ``send(session_id, text) -> reply`` runs a chat turn; without it the prompt box is
    disabled. ``model_label`` is a string or a function returning one (asked at each
    render, so a notebook can keep it current). ``namespace`` is where Export puts
    DataFrames (default: the IPython user namespace). :meth:`follow` points an open
    panel at another Memory object (after a reconnect).
    """

    progress_interval = 1.0  # seconds between looks at background work while it shows

    def __init__(
        self,
        memory: Memory,
        session_id: str | None = None,
        *,
        model_label: ModelLabel = "",
        send: SendFunction | None = None,
        page_size: int = 20,
        namespace: MutableMapping[str, Any] | None = None,
        min_interval: float = 0.1,
    ) -> None:
        # The widgets first (PanelWidgets); the search row asks for the memory and
        # session shown at the time it searches, so they need not be set yet.
        super().__init__(lambda: (self.memory, self.session_id), can_send=send is not None)
        self.memory = memory
        self._model_label: ModelLabel = model_label
        self.page_size = max(1, int(page_size))
        self.min_interval = min_interval
        self.session_id = session_id if session_id else self._latest_session()
        self.page_start: int | None = None  # None: the page just before the window
        self._send_turn = send
        self._namespace = namespace
        self._partial: str | None = None  # the AI reply being streamed
        self._pending_human: str | None = None  # the prompt of a turn sent from the panel
        self._snapshot = SessionSnapshot(None, None, 0, 0, ())
        self._deleted: str | None = None  # the shown session, deleted while shown
        self._last_seen: tuple[str | None, bool] = (None, False)  # (session, had messages)
        self._progress_shown: tuple[str, ...] = ()
        self._render_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._dirty_full = False
        self._dirty_header = False
        self._timer: threading.Timer | None = None
        self._progress_timer: threading.Timer | None = None
        self._last_flush = 0.0
        self._closed = False
        self._syncing_picker = False
        self._connect_controls()
        self._unsubscribe = memory.subscribe(self._on_event)
        self.refresh()

    # -- public API ---------------------------------------------------------------

    @property
    def model_label(self) -> str:
        """The model shown in the header (a callable label is asked now)."""
        label = self._model_label
        if callable(label):
            try:
                label = label()
            except Exception as exc:  # a broken label must not break the panel
                return f"(unknown: {type(exc).__name__}: {exc})"
        return "" if label is None else str(label)

    @model_label.setter
    def model_label(self, value: ModelLabel) -> None:
        self._model_label = value

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
        self._deleted, self._last_seen = None, (None, False)
        self._hide_confirm()
        self._search.clear()
        self.refresh()

    def follow(self, memory: Memory, session_id: str | None = None) -> None:
        """Show this panel's session (or ``session_id``) from ``memory`` from now on: stop
        listening to the old Memory object (typically closed by a reconnect), listen to
        the new one and re-render with its settings (window size, backend)."""
        with self._render_lock:
            if memory is not self.memory:
                self._unsubscribe()
                self.memory = memory
                self._unsubscribe = (memory.subscribe(self._on_event) if not self._closed
                                     else _nothing)
                self._partial = None
                self._deleted, self._last_seen = None, (None, False)
        if session_id and session_id != self.session_id:
            self.show_session(session_id)
        else:
            self.refresh()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the notebook then stops updating it)."""
        return self._closed

    def as_text(self) -> str:
        """The panel as plain text (what shows where widgets cannot render)."""
        try:
            text = render_text(self.memory, self.session_id)
        except Exception as exc:  # a closed memory: still say what this was
            return (f"motorhead panel: session {self.session_id or '(none)'}"
                    f" (cannot read the memory: {type(exc).__name__}: {exc})")
        if self._deleted is not None and self._deleted == self.session_id:
            text += f"\n{deleted_text(self._deleted)}"
        return text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget for frontends that render it, plain text for the rest (nbconvert,
        GitHub, terminals) instead of ipywidgets' ``Panel(children=(...`` repr."""
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:
            return None
        data["text/plain"] = self.as_text()
        return data

    def close(self) -> None:
        """Stop listening to the memory and close every child widget."""
        self._closed = True
        self._unsubscribe()
        with self._state_lock:
            for timer in (self._timer, self._progress_timer):
                if timer is not None:
                    timer.cancel()
            self._timer = self._progress_timer = None
        for widget in list(descendants(self))[1:]:
            widget.close()
        super().close()

    # -- live updates -------------------------------------------------------------

    def _on_event(self, event: str, session_id: str) -> None:
        if self._closed:
            return
        if event == "progress":  # a fold advanced a chunk: only the header changes
            if session_id == self.session_id:
                self._request(full=False, header=True)
            return
        if session_id == self.session_id and event in ("write", "delete"):
            self._partial = None  # the streamed turn (if any) is now stored, or gone
            if event == "delete":
                self._deleted = session_id
        self._request(full=True)

    def _request(self, full: bool, header: bool = False) -> None:
        """Coalesce: flush now if the last flush is old enough, else once, later."""
        with self._state_lock:
            self._dirty_full |= full
            self._dirty_header |= header
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
            header, self._dirty_header = self._dirty_header, False
            self._last_flush = time.monotonic()
        if self._closed:
            return
        with self._render_lock:
            try:
                if full:
                    self._render()
                else:
                    if header:
                        self._render_header()
                    self._render_stream()
            except Exception as exc:  # a failing store must not break the caller's write
                self._set_status(f"Could not read the memory: {type(exc).__name__}: {exc}",
                                 error=True)

    def _watch_progress(self) -> None:
        """While background work shows, look again now and then, so a retry's countdown
        moves (and a memory that sends no progress events is still followed)."""
        with self._state_lock:
            if self._closed or self._progress_timer is not None:
                return
            timer = threading.Timer(self.progress_interval, self._progress_tick)
            timer.daemon = True
            self._progress_timer = timer
        timer.start()

    def _progress_tick(self) -> None:
        with self._state_lock:
            self._progress_timer = None
        if self._closed:
            return
        try:
            now = tuple(progress_lines(self.memory, self.session_id))
        except Exception:  # a closed memory: nothing runs any more
            now = ()
        if now != self._progress_shown:
            self._request(full=not now, header=True)  # work that ended: re-read everything
        elif now:
            self._watch_progress()

    # -- rendering ----------------------------------------------------------------

    def _track_deleted(self, snap: SessionSnapshot) -> str | None:
        """The shown session if it was deleted while shown (a delete event, or a session
        that had messages and is gone now); None once it has messages again."""
        sid = snap.session_id
        gone = sid is not None and snap.message_count == 0 and sid not in snap.session_ids
        if not gone:
            self._deleted = None
        elif self._last_seen == (sid, True):
            self._deleted = sid
        self._last_seen = (sid, snap.message_count > 0)
        return self._deleted if self._deleted == sid and sid is not None else None

    def _render(self) -> None:
        snap = snapshot(self.memory, self.session_id)
        self._snapshot = snap
        deleted = self._track_deleted(snap)
        self._sync_picker()
        self._render_lineage(snap)
        self._render_header()
        view = snap.view
        if deleted is not None:
            self._summary.value = self._older.value = self._window_label.value = ""
            set_visible(self._pager, False)
            set_visible(self._older, False)
            self._window.value = deleted_html(deleted)
        else:
            self._summary.value = summary_html(view.summary if view else None,
                                               view.context if view else None)
            self._render_older(snap)
            shown = len(view.messages) if view else 0
            self._window_label.value = divider_html(
                f"window: the newest {shown} unsummarized message(s) the model sees"
                f" (at most {self.memory.window_size})")
            self._window.value = messages_html(view.messages if view else [], True,
                                               "No messages in the window yet.")
        self._search.show_recalled(self.memory, snap)
        self._render_stream()
        has_session = snap.session_id is not None and deleted is None
        self._delete_button.disabled = not has_session
        self._export_button.disabled = not has_session
        if self._send_turn is not None:
            self._send_button.disabled = (snap.session_id is None
                                          or self._pending_human is not None)

    def _render_header(self) -> None:
        snap = self._snapshot
        deleted = self._deleted if self._deleted == snap.session_id else None
        progress = tuple(progress_lines(self.memory, snap.session_id))
        self._progress_shown = progress
        self._header.value = header_html(self.memory, snap, self.model_label, progress,
                                         deleted)
        if progress:
            self._watch_progress()

    def _render_lineage(self, snap: SessionSnapshot) -> None:
        """The parent button: shown for a fork (disabled once its parent is gone)."""
        parent = snap.parent
        set_visible(self._parent_button, parent is not None)
        if parent is None:
            return
        self._parent_button.description = f"parent: {short_id(parent)}"
        exists = parent in snap.session_ids
        self._parent_button.disabled = not exists
        where = f" at #{snap.forked_at:,}" if snap.forked_at is not None else ""
        self._parent_button.tooltip = (f"Show {parent} (this session is a fork of it{where})"
                                       if exists else f"{parent} no longer exists")

    def _render_older(self, snap: SessionSnapshot) -> None:
        older = snap.window_start
        set_visible(self._pager, older > 0)
        set_visible(self._older, older > 0)
        if older == 0 or snap.session_id is None:
            self._older.value = ""
            return
        start, end = self._page_bounds(older)
        page = self.memory.history(snap.session_id, start, end - start)
        self._page_label.value = (
            f'<div class="mhp-page-label">older messages #{start:,}–#{end - 1:,} of {older:,}'
            " before the window</div>")
        self._first_button.disabled = self._older_button.disabled = start == 0
        self._newer_button.disabled = self._last_button.disabled = end >= older
        self._older.value = messages_html(page, False, "")

    def _render_stream(self) -> None:
        parts = []
        if self._pending_human is not None:
            parts.append(pending_human_html(self._pending_human))
        if self._partial is not None:
            parts.append(streaming_html(self._partial))
        self._streaming.value = "".join(parts)
        set_visible(self._streaming, bool(parts))

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


def _nothing() -> None:
    return None

