"""Rich results of the magics: Markdown in a notebook, plain text in a terminal.

:class:`Reply` is a ``str`` (so ``_``, ``Out[n]`` and ``-o VAR`` hold the text
itself) whose notebook rendering is Markdown with metadata naming the session and
the model. Nothing here ever holds an API key.
"""

from __future__ import annotations

from typing import Any

from .model import MemoryView

MAX_SHOWN_CHARS = 4000


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


def _shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more chars)"


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in _shorten(text).splitlines() or [""])


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
            lines.append(f"  [{message.seq}] {message.role}: {_shorten(message.content)}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __repr__(self) -> str:
        return f"<MemoryReport {self._header()}>"
