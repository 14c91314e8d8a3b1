"""What the magics show: Markdown in a notebook, plain text in a terminal.

:class:`Reply` is a ``str`` (so ``_``, ``Out[n]`` and ``-o VAR`` hold the text
itself) whose notebook rendering is Markdown with metadata naming the session and
the model; :class:`LiveReply` shows a reply while it streams; :func:`shorten` is
the one place long texts are cut for display. Nothing here ever holds an API key.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from ..records import Hit, MemoryView

log = logging.getLogger("motorhead_magic")

MAX_SHOWN_CHARS = 2000  # per message, so what a display sends stays bounded
HIT_CHARS = 200  # of each message in a table of search hits
STREAM_INTERVAL = 0.05  # seconds between display updates while a reply streams
STATUS_INTERVAL = 0.5  # seconds between status line updates while waiting for the model
_STATUS_STYLE = "color:var(--jp-ui-font-color2, #6b7280);font-size:var(--jp-ui-font-size1, 12px)"


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
                f"{shown} (window size {self.window_size}), "
                f"{self.view.tokens} tokens spent summarizing")

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


def progress_bar(label: str, done: int, total: int, elapsed: float, width: int = 20) -> str:
    """``replaying [########------------] 4/10 · 3 s · ETA 5 s``."""
    filled = round(width * done / total) if total else width
    eta = f" · ETA {elapsed / done * (total - done):.0f} s" if 0 < done < total else ""
    return (f"{label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total} · "
            f"{elapsed:.0f} s{eta}")


class CompareView:
    """Replies of several models streaming side by side (one column each); in a
    terminal, each reply is printed when it is complete."""

    def __init__(self, kernel: bool, labels: list[str]) -> None:
        self.kernel, self.labels = kernel, labels
        self.texts = [""] * len(labels)
        self._handle: Any = None
        self._lock = threading.Lock()
        self._last = 0.0

    def update(self, index: int, text: str) -> None:
        with self._lock:
            self.texts[index] = text
            now = time.monotonic()
            if not self.kernel or now - self._last < STREAM_INTERVAL:
                return
            self._last = now
            self._show()

    def finish(self, frame: Any) -> None:
        """The final replies (and errors) from the comparison's DataFrame."""
        with self._lock:
            for index, row in enumerate(frame.itertuples()):
                self.texts[index] = row.reply if isinstance(row.reply, str) else (
                    f"[error] {row.error}")
            if self.kernel:
                self._show()
            else:
                for label, text in zip(self.labels, self.texts):
                    print(f"--- {label} ---\n{text}")

    def _show(self) -> None:
        head = "".join(f"<th>{index}: {html.escape(label)}</th>"
                       for index, label in enumerate(self.labels))
        cells = "".join(f'<td style="vertical-align:top;white-space:pre-wrap">'
                        f"{html.escape(shorten(text))}</td>" for text in self.texts)
        bundle = {"text/plain": "\n\n".join(f"[{label}]\n{text}" for label, text in
                                           zip(self.labels, self.texts)),
                  "text/html": f'<table class="mh-compare"><tr>{head}</tr><tr>{cells}</tr>'
                               "</table>"}
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


class SeenReport:
    """What ``%motorhead seen`` shows: each message the model received, with its source."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def _repr_markdown_(self) -> str:
        lines = []
        for part in self.parts:
            lines += [f"`{part.source}` **{part.role}**", "", _quote(part.content), ""]
        return "\n".join(lines)

    def __str__(self) -> str:
        return "\n".join(f"[{p.source}] {p.role}: {shorten(p.content)}" for p in self.parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def utc_minute(moment: datetime) -> str:
    """``2026-11-30 14:02``, in UTC (as the recalled messages of a prompt are dated)."""
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


class SearchReport:
    """What ``%motorhead search`` shows: the hits, best first, as a table (score, seq,
    role, date, the content cut short), and a note when the search fell back to words.
    ``frame`` is the DataFrame of the hits (DESIGN.md section 6)."""

    def __init__(self, hits: Sequence[Hit], *, text: str, session_id: str, mode: str | None,
                 note: str | None = None) -> None:
        self.hits, self.text, self.session_id = list(hits), text, session_id
        self.mode, self.note = mode, note

    @property
    def frame(self) -> Any:
        from ..memory.frames import hits_frame

        return hits_frame(self.hits)

    def headline(self) -> str:
        where = f"in session {self.session_id!r}"
        how = f" ({self.mode} search)" if self.mode else ""
        if not self.hits:
            return f"no messages match {shorten(self.text, 80)!r} {where}{how}"
        count = "1 message" if len(self.hits) == 1 else f"{len(self.hits)} messages"
        return f"{count} {where} for {shorten(self.text, 80)!r}, best first{how}"

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [(f"{hit.score:.3f}", str(hit.message.seq), hit.message.role,
                 utc_minute(hit.message.created_at),
                 shorten(" ".join(hit.message.content.split()), HIT_CHARS))
                for hit in self.hits]

    def _repr_html_(self) -> str:
        parts = [f"<div><b>{html.escape(self.headline())}</b></div>"]
        if self.note:
            parts.append(f'<div style="{_STATUS_STYLE}">note: {html.escape(self.note)}</div>')
        if self.hits:
            head = "".join(f"<th>{name}</th>" for name in
                           ("score", "seq", "role", "date (UTC)", "content"))
            rows = "".join(
                "<tr>" + "".join(f'<td style="text-align:left">{html.escape(cell)}</td>'
                                 for cell in row) + "</tr>" for row in self._rows())
            parts.append(f'<table class="mh-search"><tr>{head}</tr>{rows}</table>')
        return "".join(parts)

    def __str__(self) -> str:
        lines = [self.headline()] + ([f"note: {self.note}"] if self.note else [])
        for score, seq, role, date, content in self._rows():
            lines.append(f"  {score:>8}  #{seq:<5} {date}  {role}: {content}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __repr__(self) -> str:
        return f"<SearchReport {self.headline()}>"


class StatusLine:
    """One line of status that changes in place: an updating display in a notebook, a
    printed line (only when it changes) in a terminal."""

    def __init__(self, kernel: bool) -> None:
        self.kernel = kernel
        self._handle: Any = None
        self._shown = ""

    def show(self, text: str) -> None:
        if not text or text == self._shown:
            return
        self._shown = text
        bundle = {"text/plain": text,
                  "text/html": f'<div style="{_STATUS_STYLE}">{html.escape(text)}</div>'}
        if not self.kernel:
            print(text, flush=True)
        elif self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)


class LiveReply:
    """Shows a turn while it runs. In a notebook: at once a status line ("waiting for
    local · 3 s · summarizing big-session, chunk 3/26", refreshed while no token has
    come), then the reply as Markdown as it streams; after an interrupt, the partial
    reply greyed with one line saying nothing was stored. In a terminal: the raw text.
    Every open panel sees the turn in progress. A :meth:`note` (recall skipped) joins the
    status line and stays, as that line, above the reply."""

    def __init__(self, kernel: bool, panels: list[Any], session_id: str, *,
                 waiting_for: str = "", background: Callable[[], str] | None = None) -> None:
        self.kernel, self.panels, self.session_id = kernel, panels, session_id
        self.waiting_for = waiting_for
        self.background = background
        self._handle: Any = None
        self._printed = 0
        self._last = 0.0
        self._lock = threading.Lock()
        self._replying = threading.Event()  # set at the first token (or at the end)
        self._started = time.monotonic()
        self._note: str | None = None

    def start(self) -> None:
        """Show the status line now (before the model answers) and keep it current."""
        if not self.kernel:
            return
        from IPython.display import display

        self._handle = display(self._status_bundle(), raw=True, display_id=True)
        threading.Thread(target=self._tick, name="motorhead-status", daemon=True).start()

    def note(self, text: str) -> None:
        """One line about this turn (e.g. recall skipped), said once: in the status line
        now and above the reply once it is complete (printed in a terminal)."""
        self._note = text
        if not self.kernel:
            print(f"[{text}]", flush=True)

    def status_text(self) -> str:
        seconds = time.monotonic() - self._started
        parts = [f"waiting for {self.waiting_for or 'the model'}", f"{seconds:.0f} s"]
        try:
            extra = self.background() if self.background else ""
        except Exception:  # a status is never worth failing a turn
            extra = ""
        return " · ".join(parts + [x for x in (extra, self._note) if x])

    def _status_bundle(self) -> dict[str, str]:
        text = self.status_text()
        return {"text/plain": text,
                "text/html": f'<div class="mh-status" style="{_STATUS_STYLE}">⏳ '
                             f"{html.escape(text)}</div>"}

    def _tick(self) -> None:
        while not self._replying.wait(STATUS_INTERVAL):
            with self._lock:
                if not self._replying.is_set() and self._handle is not None:
                    self._handle.update(self._status_bundle(), raw=True)

    def update(self, text: str) -> None:
        self._replying.set()
        if not self.kernel:
            print(text[self._printed:], end="", flush=True)
            self._printed = len(text)
        now = time.monotonic()
        if now - self._last < STREAM_INTERVAL:
            return
        self._last = now
        if self.kernel:
            from IPython.display import Markdown, display

            with self._lock:
                if self._handle is None:
                    self._handle = display(Markdown(text), display_id=True)
                else:
                    self._handle.update(Markdown(text))
        self._each_panel("stream", self.session_id, text)

    def close(self, failed: bool, interrupted: str | None = None) -> None:
        """Remove the preview (the cell's value shows the reply), or after an interrupt
        keep the partial text, greyed, with one line saying nothing was stored."""
        self._replying.set()
        with self._lock:
            if interrupted is not None:
                self._show_interrupted(interrupted)
            elif self._handle is not None and not failed and self._note:
                self._handle.update({"text/plain": f"[{self._note}]", "text/html":
                                     f'<div class="mh-status" style="{_STATUS_STYLE}">⚠ '
                                     f"{html.escape(self._note)}</div>"}, raw=True)
            elif self._handle is not None and not failed:
                from IPython.display import clear_output

                clear_output(wait=True)  # the cell's value replaces it: no empty output left
            elif self._handle is not None:
                self._handle.update({"text/plain": ""}, raw=True)
        if self._printed:
            print(flush=True)
        if failed:
            self._each_panel("refresh")

    def _show_interrupted(self, partial: str) -> None:
        note = "interrupted: nothing stored"
        if not self.kernel:
            return
        bundle = {"text/plain": f"{partial}\n[{note}]" if partial else f"[{note}]",
                  "text/html": (f'<div style="opacity:0.55;white-space:pre-wrap">'
                                f"{html.escape(shorten(partial))}</div>" if partial else "")
                  + f'<div style="{_STATUS_STYLE}">{note}</div>'}
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _each_panel(self, method: str, *args: Any) -> None:
        for panel in self.panels:
            try:
                getattr(panel, method)(*args)
            except Exception:  # a broken panel must never break a turn
                log.exception("motorhead panel %s failed", method)
