"""What the magics show: Markdown in a notebook, plain text in a terminal.

:class:`Reply` is a ``str`` (so ``_``, ``Out[n]`` and ``-o VAR`` hold the text
itself) whose notebook rendering is Markdown with metadata naming the session and
the model; :class:`LiveReply` shows a reply while it streams; :func:`shorten` is
the one place long texts are cut for display. Nothing here ever holds an API key.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..records import MemoryView

log = logging.getLogger("motorhead_magic")

MAX_SHOWN_CHARS = 2000  # per message, so what a display sends stays bounded
STREAM_INTERVAL = 0.05  # seconds between display updates while a reply streams


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def is_kernel(shell: Any) -> bool:
    """A Jupyter kernel shell (widgets and display updates work), not terminal IPython."""
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


class Reply(str):
    """The AI reply of one ``%%motorhead`` turn."""

    session_id: str
    model: str

    def __new__(cls, text: str, *, session_id: str, model: str) -> Reply:
        reply = super().__new__(cls, text)
        reply.session_id = session_id
        reply.model = model
        return reply

    @property
    def text(self) -> str:
        return str.__str__(self)

    def metadata(self) -> dict[str, Any]:
        return {"motorhead": {"session_id": self.session_id, "model": self.model}}

    def _repr_markdown_(self) -> tuple[str, dict[str, Any]]:
        return self.text, self.metadata()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles/copies as a plain str
        return (str, (self.text,))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in shorten(text).splitlines() or [""])


class MemoryReport:
    """What ``%motorhead memory`` shows: the running summary and the window of a session."""

    def __init__(self, view: MemoryView, *, window_size: int, message_count: int) -> None:
        self.view = view
        self.window_size = window_size
        self.message_count = message_count

    @property
    def session_id(self) -> str:
        return self.view.session_id

    def _header(self) -> str:
        shown = len(self.view.messages)
        return (f"session {self.session_id!r}: {self.message_count} messages, window shows "
                f"{shown} (window size {self.window_size}), summary tokens spent "
                f"{self.view.tokens}")

    def _repr_markdown_(self) -> tuple[str, dict[str, Any]]:
        parts = [f"**{self._header()}**", "", "**Summary**", ""]
        parts.append(_quote(self.view.context) if self.view.context else "_no summary yet_")
        parts += ["", "**Window**", ""]
        if not self.view.messages:
            parts.append("_no messages yet_")
        for message in self.view.messages:
            parts += [f"`{message.seq}` **{message.role}**", "", _quote(message.content), ""]
        return "\n".join(parts), {"motorhead": {"session_id": self.session_id}}

    def __str__(self) -> str:
        lines = [self._header(), "", "Summary:", "  " + (self.view.context or "(none yet)"),
                 "", "Window:"]
        if not self.view.messages:
            lines.append("  (no messages yet)")
        for message in self.view.messages:
            lines.append(f"  [{message.seq}] {message.role}: {shorten(message.content)}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __repr__(self) -> str:
        return f"<MemoryReport {self._header()}>"


class LiveReply:
    """Shows a reply while it streams: an updating display in a notebook, raw text in a
    terminal, and the turn in progress in every open panel."""

    def __init__(self, kernel: bool, panels: list[Any], session_id: str) -> None:
        self.kernel, self.panels, self.session_id = kernel, panels, session_id
        self._handle: Any = None
        self._printed = 0
        self._last = 0.0

    def update(self, text: str) -> None:
        if not self.kernel:
            print(text[self._printed:], end="", flush=True)
            self._printed = len(text)
        now = time.monotonic()
        if now - self._last < STREAM_INTERVAL:
            return
        self._last = now
        if self.kernel:
            from IPython.display import Markdown, display

            if self._handle is None:
                self._handle = display(Markdown(text), display_id=True)
            else:
                self._handle.update(Markdown(text))
        self._each_panel("stream", self.session_id, text)

    def close(self, failed: bool) -> None:
        """Remove the preview (the cell's value shows the reply); newline in a terminal."""
        if self._handle is not None and not failed:
            from IPython.display import clear_output

            clear_output(wait=True)  # the cell's value replaces it: no empty output left
        elif self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        if self._printed:
            print(flush=True)
        if failed:
            self._each_panel("refresh")

    def _each_panel(self, method: str, *args: Any) -> None:
        for panel in self.panels:
            try:
                getattr(panel, method)(*args)
            except Exception:  # a broken panel must never break a turn
                log.exception("motorhead panel %s failed", method)
