"""The panel's long-term memory: a search field with its hits, and the earlier messages
the last turn recalled (from its provenance).

The search runs when the field is submitted (Enter, or the Search button): the field
does not search while one types (``continuous_update=False``), so nothing needs a
debounce. Hits are shown like the panel's messages (escaped, cut short) with their
score; at most :attr:`SearchBox.k` of them, so the widget state stays bounded.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..memory import Memory
from ..records import Hit, Message
from .panel_view import SessionSnapshot, bubble_kind, last_recall, note_html, recall_text, when
from .render import HIT_CHARS, shorten

Source = Callable[[], tuple[Memory, str | None]]  # the panel's memory and session, now

MAX_RECALLED_SHOWN = 10  # of the last turn's recalled messages (the rest are counted)


def hit_html(message: Message, meta: str) -> str:
    return (f'<div class="mhp-msg mhp-{bubble_kind(message.role)} mhp-old" '
            f'data-seq="{message.seq}"><span class="mhp-meta">{html.escape(meta)}</span>'
            f'<span class="mhp-content">{html.escape(shorten(message.content, HIT_CHARS))}'
            "</span></div>")


def hits_html(hits: list[Hit], text: str, note: str | None = None) -> str:
    """The hits, best first, each with its seq, role, score and time."""
    said = html.escape(shorten(text, 80))
    if not hits:
        head = f"No messages match “{said}”."
    else:
        head = f"{len(hits)} message(s) match “{said}”, best first:"
    bubbles = "".join(hit_html(hit.message, f"#{hit.message.seq} · {hit.message.role} · "
                               f"score {hit.score:.3f} · {when(hit.message.created_at)}")
                      for hit in hits)
    return (f'<div class="mhp-divider">{head}</div>' + note_html(note or "")
            + (f'<div class="mhp-list">{bubbles}</div>' if bubbles else ""))


def recalled_html(memory: Memory, snap: SessionSnapshot) -> str:
    """Which earlier messages the last turn recalled, as faded bubbles; "" when the
    last turn had no recall."""
    recall = last_recall(snap)
    if recall is None or snap.session_id is None:
        return ""
    shown = recall["retrieved"][:MAX_RECALLED_SHOWN]
    messages = [m for seq in shown for m in memory.history(snap.session_id, seq, 1)]
    more = len(recall["retrieved"]) - len(shown)
    bubbles = "".join(hit_html(m, f"#{m.seq} · {m.role} · recalled · {when(m.created_at)}")
                      for m in messages)
    return (f'<div class="mhp-divider mhp-recalled">{html.escape(recall_text(recall))}</div>'
            + (f'<div class="mhp-list">{bubbles}</div>' if bubbles else "")
            + (f'<div class="mhp-empty">… and {more} more</div>' if more > 0 else ""))


class SearchBox:
    """The search field, its results and the recalled messages, for a :class:`Panel`:
    ``box`` goes under the prompt, ``recalled`` into the scrolled body after the window.
    ``shared`` makes the buttons and HTML widgets (the panel's shared layouts)."""

    k = 10  # hits per search

    def __init__(self, source: Source, shared: Any) -> None:
        self._source = source
        self.field = widgets.Text(placeholder="Search this session (Enter)",
                                  continuous_update=False,
                                  layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.field.add_class("mhp-search")
        self.field.observe(lambda change: self.search(change["new"]), names="value")
        self.button = shared.button("Search", "mhp-search-button", icon="search",
                                    tooltip="Find this session's messages, folded or not")
        self.button.on_click(lambda _: self.search(self.field.value))
        self.results = shared.html("mhp-search-results", shared.full_width)
        row = widgets.HBox([self.field, self.button],
                           layout=widgets.Layout(align_items="center", overflow="visible"))
        row.add_class("mhp-search-row")
        self.box = widgets.VBox([row, self.results], layout=widgets.Layout(overflow="visible"))
        self.recalled = shared.html("mhp-recalled-box", shared.full_width)
        self._recalled_key: tuple[Any, ...] | None = None

    def search(self, text: str) -> None:
        """Search the panel's session now and show the hits (or why there are none)."""
        text = (text or "").strip()
        memory, session_id = self._source()
        if not text:
            self.results.value = ""
        elif session_id is None:
            self.results.value = note_html("No session to search: pick one first.", True)
        else:
            try:
                found = memory.search_result(session_id, text, self.k)
            except Exception as exc:  # a failing search must not break the panel
                self.results.value = note_html(f"Search failed: {type(exc).__name__}: {exc}",
                                               True)
                return
            self.results.value = hits_html(found.hits, text, found.note)

    def clear(self) -> None:
        """Another session is shown: its hits would mislead."""
        self.field.value = ""  # observed: clears the results too
        self.results.value = ""

    def show_recalled(self, memory: Memory, snap: SessionSnapshot) -> None:
        """Re-read the recalled messages only when the last turn changed (they never do)."""
        last = snap.view.messages[-1] if snap.view and snap.view.messages else None
        key = (id(memory), snap.session_id, last.seq if last else None,
               last.created_at if last else None)
        if key != self._recalled_key:
            self._recalled_key = key
            self.recalled.value = recalled_html(memory, snap)
