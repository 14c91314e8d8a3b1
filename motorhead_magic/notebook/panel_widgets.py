"""The memory panel's widgets: which ipywidgets it is made of, in what order, with what look.

:class:`PanelWidgets` builds the whole widget tree once and holds every child a render
or an action touches; it decides nothing and reads no memory. The behaviour is added by
subclasses: :class:`~.panel_actions.PanelActions` (the buttons' actions), then
:class:`~.panel.Panel` (events, throttled flushes, rendering), so the live code, the
actions and their tests reach each child by the same name (``panel._window``,
``panel._send_button``). What the children *show* is
:mod:`.panel_view` (HTML and text from plain data); the search row is :mod:`.panel_search`.

Widget state size: layout and style models that never change one by one are made once
per panel by :class:`SharedStyles` and shared, so the browser receives each model once.
A widget hidden or shown on its own (:func:`set_visible`) needs a layout of its own,
since hiding changes its layout.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle  # not exported at the top

from .panel_search import SearchBox, Source
from .panel_view import SCROLL_MAX_HEIGHT, note_html, style_html

__all__ = ["PanelWidgets", "SharedStyles", "set_visible", "short_id"]

_HIDDEN = "none"
_BUTTON_ID_CHARS = 24  # a longer parent id is cut on its button (the tooltip has it whole)


def set_visible(widget: widgets.Widget, visible: bool) -> None:
    """Show or hide ``widget`` (through its layout: share that layout with no other)."""
    widget.layout.display = None if visible else _HIDDEN


def short_id(session_id: str, limit: int = _BUTTON_ID_CHARS) -> str:
    """``session_id`` cut to fit a button (the parent button is at most 260px wide)."""
    return session_id if len(session_id) <= limit else session_id[:limit - 1] + "…"


class SharedStyles:
    """Layout and style models shared by the widgets that never change them one by one
    (the browser receives each model once: a smaller widget state).

    One per panel, never shared between panels: closing a panel closes its layouts and
    styles too, which would break another panel still showing them."""

    def __init__(self) -> None:
        self.button_layout = widgets.Layout(width="auto", min_width="36px", flex="0 0 auto")
        self.button_style = widgets.ButtonStyle()
        self.full_width = widgets.Layout(width="100%")
        self.plain = widgets.Layout()
        self.html_style = HTMLStyle()

    def button(self, description: str, css_class: str, **kwargs: Any) -> widgets.Button:
        """A button as wide as its label (ipywidgets' fixed width cuts longer labels)."""
        kwargs.setdefault("layout", self.button_layout)
        return widgets.Button(description=description, style=self.button_style,
                              **kwargs).add_class(css_class)

    def html(self, css_class: str, layout: widgets.Layout | None = None) -> widgets.HTML:
        """An HTML widget with the shared style (and the shared plain layout by default)."""
        return widgets.HTML(layout=layout or self.plain, style=self.html_style).add_class(
            css_class)


def _row_layout() -> widgets.Layout:
    """A wrapping row whose content (a dropdown's list, a tooltip) may stick out."""
    return widgets.Layout(align_items="center", flex_flow="row wrap", overflow="visible")


class PanelWidgets(widgets.VBox):
    """The panel's widget tree, top to bottom: the stylesheet (hidden), the header, the
    toolbar (session picker, a fork's parent, refresh, export, delete), the delete
    confirmation (hidden), the pager of older messages, the scrolled messages (older
    page, summary, window, what the last turn recalled, the turn in progress), the
    prompt with Send, a hint, the status line and the search row.

    Built without callbacks: the owner connects the buttons to its actions.
    ``search_source`` gives the search row the memory and session shown now;
    without ``can_send`` the prompt and Send are disabled and a hint says why.
    """

    def __init__(self, search_source: Source, *, can_send: bool) -> None:
        super().__init__()
        self.add_class("mhp-panel")
        shared = SharedStyles()
        button, html_widget = shared.button, shared.html

        self._style = widgets.HTML(style_html(), layout=widgets.Layout(display=_HIDDEN),
                                   style=shared.html_style).add_class("mhp-style")
        self._header = html_widget("mhp-header-box", shared.full_width)
        self._picker = widgets.Dropdown(
            description="session", style={"description_width": "initial"},
            layout=widgets.Layout(width="260px", min_width="140px", flex="0 1 auto"))
        self._picker.add_class("mhp-picker")
        # A fork's parent, one click away (shown only for a fork: Panel._render_lineage).
        self._parent_button = button("parent", "mhp-parent", icon="level-up",
                                     layout=widgets.Layout(width="auto", min_width="36px",
                                                           max_width="260px", flex="0 1 auto"))
        set_visible(self._parent_button, False)
        self._refresh_button = button("Refresh", "mhp-refresh", icon="refresh",
                                      tooltip="Re-read the session")
        self._export_name = widgets.Text(value="df", description="export to",
                                         style={"description_width": "initial"},
                                         layout=widgets.Layout(width="140px", flex="0 0 auto"))
        self._export_name.add_class("mhp-export-name")
        self._export_button = button("Export DataFrame", "mhp-export", icon="table",
                                     tooltip="Put the session's messages into a DataFrame")
        self._delete_button = button("Delete…", "mhp-delete", icon="trash",
                                     button_style="danger")
        toolbar = widgets.HBox([self._picker, self._parent_button, self._refresh_button,
                                self._export_name, self._export_button, self._delete_button],
                               layout=_row_layout())
        toolbar.add_class("mhp-toolbar")

        self._confirm_label = html_widget("mhp-confirm-label")
        self._confirm_button = button("Confirm delete", "mhp-confirm", button_style="danger")
        self._cancel_button = button("Cancel", "mhp-cancel")
        self._confirm_box = widgets.HBox([self._confirm_label, self._confirm_button,
                                          self._cancel_button], layout=_row_layout())
        self._confirm_box.add_class("mhp-confirm-box")
        set_visible(self._confirm_box, False)

        self._first_button = button("|◀", "mhp-first-button", tooltip="Oldest page (#0)")
        self._older_button = button("◀", "mhp-older-button", tooltip="Older page")
        self._page_label = html_widget("mhp-page-label", widgets.Layout(
            flex="1 1 auto", min_width="0", overflow="hidden"))
        self._newer_button = button("▶", "mhp-newer-button", tooltip="Newer page")
        self._last_button = button("▶|", "mhp-last-button",
                                   tooltip="Newest page (just before the window)")
        self._pager = widgets.HBox([self._first_button, self._older_button, self._page_label,
                                    self._newer_button, self._last_button],
                                   layout=widgets.Layout(align_items="center",
                                                         overflow="hidden"))
        self._pager.add_class("mhp-pager")

        # _older and _streaming are hidden one by one: layouts of their own.
        self._older = html_widget("mhp-older", widgets.Layout(width="100%"))
        self._summary = html_widget("mhp-summary-box", shared.full_width)
        self._window_label = html_widget("mhp-window-label", shared.full_width)
        self._window = html_widget("mhp-window", shared.full_width)
        self._streaming = html_widget("mhp-stream", widgets.Layout(width="100%"))
        self._search = SearchBox(search_source, shared)
        # Oldest at the top, newest at the bottom; the reversed flex direction of the
        # scroll box makes its bottom the start of scrolling: the browser keeps the newest
        # message in view as content grows, and keeps the reader's place if scrolled up.
        body = widgets.VBox([self._older, self._summary, self._window_label, self._window,
                             self._search.recalled, self._streaming],
                            layout=widgets.Layout(flex="0 0 auto", overflow="visible"))
        body.add_class("mhp-body")
        self._scroll = widgets.Box([body], layout=widgets.Layout(
            display="flex", flex_flow="column-reverse", max_height=SCROLL_MAX_HEIGHT,
            overflow="auto", width="100%"))
        self._scroll.add_class("mhp-scroll")

        self._prompt = widgets.Textarea(placeholder="Message (Send runs a turn)",
                                        layout=widgets.Layout(flex="1 1 auto", width="auto",
                                                              height="56px"))
        self._prompt.add_class("mhp-prompt")
        self._send_button = button("Send", "mhp-send", icon="paper-plane",
                                   button_style="primary", layout=widgets.Layout(
                                       width="auto", min_width="80px", flex="0 0 auto"))
        self._send_hint = html_widget("mhp-send-hint")
        if not can_send:
            self._prompt.disabled = self._send_button.disabled = True
            self._send_hint.value = note_html("Sending needs a chat model: use %motorhead panel,"
                                              " or Panel(memory, sid, send=...).")
        prompt_row = widgets.HBox([self._prompt, self._send_button],
                                  layout=widgets.Layout(align_items="center",
                                                        overflow="visible"))
        prompt_row.add_class("mhp-prompt-row")
        self._status = html_widget("mhp-status")

        self.children = [
            self._style, self._header, toolbar, self._confirm_box, self._pager, self._scroll,
            prompt_row, self._send_hint, self._status, self._search.box,
        ]
