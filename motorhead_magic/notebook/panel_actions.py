"""What the memory panel's controls do: pick a session, open a fork's parent, page through
the older messages, send a turn, export a DataFrame, delete a session (after a confirmation).

:class:`PanelActions` sits between the widget tree (:class:`~.panel_widgets.PanelWidgets`)
and the live :class:`~.panel.Panel`, which subclasses it. An action changes what the panel
shows (``session_id``, ``page_start``, the turn being sent) or the memory, then asks the
Panel to show it (``refresh``, ``flush``, ``show_session``); how a render happens, and when,
is :mod:`.panel`'s business alone.
"""

from __future__ import annotations

import html
import keyword
from collections.abc import Callable, MutableMapping
from typing import Any

from ..memory import Memory
from .panel_view import SessionSnapshot, note_html
from .panel_widgets import PanelWidgets, set_visible

__all__ = ["PanelActions", "SendFunction"]

SendFunction = Callable[[str, str], Any]  # (session_id, text) -> reply: runs one chat turn


class PanelActions(PanelWidgets):
    """The actions of the panel's controls (connected by :meth:`_connect_controls`).

    The state below is the Panel's (set in ``Panel.__init__``); the actions show what
    they changed through the Panel's ``refresh``, ``flush`` and ``show_session``.
    """

    memory: Memory
    session_id: str | None
    page_size: int
    page_start: int | None
    _snapshot: SessionSnapshot  # the last render's read of the session
    _send_turn: SendFunction | None
    _namespace: MutableMapping[str, Any] | None
    _pending_human: str | None
    _partial: str | None
    _syncing_picker: bool  # True while a render sets the picker (no user picked)

    def _connect_controls(self) -> None:
        """Connect the picker and the buttons built by :class:`PanelWidgets` to their
        actions (the widgets themselves know none of them)."""
        self._picker.observe(self._on_pick, names="value")
        self._parent_button.on_click(self._open_parent)
        self._refresh_button.on_click(lambda _: self.refresh())
        self._export_button.on_click(self._on_export)
        self._delete_button.on_click(self._ask_delete)
        self._confirm_button.on_click(self._confirm_delete)
        self._cancel_button.on_click(lambda _: self._hide_confirm())
        self._first_button.on_click(lambda _: self._page_to(0))
        self._older_button.on_click(lambda _: self._page(-1))
        self._newer_button.on_click(lambda _: self._page(+1))
        self._last_button.on_click(lambda _: self._page_to(None))
        self._send_button.on_click(self._on_send)

    def _set_status(self, text: str, error: bool = False) -> None:
        self._status.value = note_html(text, error)

    # -- sessions -----------------------------------------------------------------

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._syncing_picker and change["new"] != self.session_id:
            self.show_session(change["new"])

    def _open_parent(self, _button: Any = None) -> None:
        """Show the session this fork came from (as picking it in the picker does)."""
        parent = self._snapshot.parent
        if (parent is not None and not self._parent_button.disabled
                and self._snapshot.session_id == self.session_id):
            self.show_session(parent)

    # -- the pager of older messages ----------------------------------------------

    def _page_bounds(self, window_start: int) -> tuple[int, int]:
        last_page = max(0, window_start - self.page_size)
        start = last_page if self.page_start is None else min(self.page_start, last_page)
        return start, min(start + self.page_size, window_start)

    def _page(self, direction: int) -> None:
        start, _ = self._page_bounds(self._snapshot.window_start)
        self._page_to(max(0, start + direction * self.page_size))

    def _page_to(self, start: int | None) -> None:
        """Show the page of older messages from ``start`` (None: the newest page, which
        then follows the window as it moves on)."""
        last_page = max(0, self._snapshot.window_start - self.page_size)
        self.page_start = None if start is None or start >= last_page else start
        self.refresh()

    # -- send, export, delete -----------------------------------------------------

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
        self.flush()
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
        set_visible(self._confirm_box, True)

    def _confirm_delete(self, _button: Any = None) -> None:
        session_id = self.session_id
        self._hide_confirm()
        if session_id is None:
            return
        self.memory.delete(session_id)
        self._set_status(f"Deleted session {session_id!r}.")
        self.refresh()

    def _hide_confirm(self) -> None:
        set_visible(self._confirm_box, False)
        self._confirm_label.value = ""


def _user_namespace() -> MutableMapping[str, Any] | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell.user_ns if shell is not None else None
