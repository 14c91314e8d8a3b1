"""``%load_ext motorhead_magic``: the ``%%motorhead`` cell magic and ``%motorhead`` line
subcommands (DESIGN.md section 5).

Thin on purpose: parse, call the memory or :func:`.chain.run_turn`, display. Heavy
modules (LangChain, pandas, widgets, llama.cpp) are imported on first use so that
loading the extension stays fast.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Int, Unicode, observe

from . import parsing
from .memory import Memory, connect, redact
from .model import MotorheadError

log = logging.getLogger("motorhead_magic")

DEFAULT_SESSION = "default"
SUMMARY_CHUNK_TOKENS = 1500  # fits the local model's context with room for the answer
SUMMARY_MAX_TOKENS = 256
STREAM_INTERVAL = 0.05  # seconds between display updates while a reply streams


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= limit else first[:limit] + "…"


def is_kernel(shell: Any) -> bool:
    """A Jupyter kernel shell (widgets and display updates work), not terminal IPython."""
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


def _session_summarizer(magics: MotorheadMagics) -> Any:
    """The background summarizer: its model is resolved at fold time, so it follows
    ``%motorhead model`` without reconnecting (the chat model unless ``summary_model``
    is set), with a prompt that suits it (:func:`.llms.summary_prompt_for`)."""
    from .summarizer import Summarizer

    class SessionSummarizer(Summarizer):
        def fold(self, summary: str | None, messages: Any) -> tuple[str, int]:
            from .llms import summary_prompt_for

            model = magics.summary_chat_model()
            prompt = summary_prompt_for(model)
            return Summarizer(model, prompt, self.chunk_tokens).fold(summary, messages)

    return SessionSummarizer(None, chunk_tokens=SUMMARY_CHUNK_TOKENS)


class _LiveReply:
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


@magics_class
class MotorheadMagics(Magics):
    """Chat in cells with conversation memory. Settings via ``%config MotorheadMagics``."""

    model = Unicode(None, allow_none=True, help='Chat model: "local", an OpenAI model name, '
                    "or a variable holding a LangChain chat model (env MOTORHEAD_MODEL)."
                    ).tag(config=True)
    summary_model = Unicode(None, allow_none=True, help='Model for background summaries; '
                            'unset: the chat model; "none": no summarization.').tag(config=True)
    window_size = Int(None, allow_none=True, min=1, help="Messages in the window "
                      "(env MOTORHEAD_MAX_WINDOW_SIZE, default 12).").tag(config=True)
    session = Unicode(None, allow_none=True, help="The bound session (default: the notebook's "
                      'file name, else "default").').tag(config=True)
    url = Unicode(None, allow_none=True, help="Memory backend URL (default: env MOTORHEAD_URL, "
                  "else the embedded SQLite store).").tag(config=True)
    stream = Bool(True, help="Stream replies as they arrive.").tag(config=True)
    prompt = Unicode(None, allow_none=True, help="Prompt template text, or the name of a "
                     "variable holding one (default: the seed chatbot).").tag(config=True)
    max_tokens = Int(None, allow_none=True, min=1, help="Cap on reply tokens (default: "
                     "128 for the local model, none for OpenAI).").tag(config=True)
    traceback = Bool(False, help="Show full tracebacks of failed turns.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._memory: Memory | None = None
        self._model_choice: str | None = None  # %motorhead model (wins over %config)
        self._prompt_choice: str | None = None  # %motorhead prompt (wins over %config)
        self.panels: list[Any] = []

    # -- state ---------------------------------------------------------------------------

    @observe("url", "window_size", "summary_model")
    def _backend_changed(self, change: dict[str, Any]) -> None:
        self.close()

    def close(self) -> None:
        """Drop the memory (the next use reconnects) and forget open panels."""
        memory, self._memory = self._memory, None
        self.panels = []
        if memory is not None:
            memory.close()

    def _open(self, url: str | None) -> Memory:
        summarizer = None
        if (self.summary_model or "").strip().lower() != "none":
            summarizer = _session_summarizer(self)
        try:
            return connect(url or None, window_size=self.window_size, summarizer=summarizer)
        except MotorheadError as exc:
            raise UsageError(f"cannot open the memory: {_one_line(exc)}") from None

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            self._memory = self._open(self.url)
        return self._memory

    @property
    def current_session(self) -> str:
        if self.session:
            return self.session
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        stem = Path(notebook).stem if notebook.endswith(".ipynb") else ""
        return stem or DEFAULT_SESSION

    def model_choice(self, cell_choice: str | None = None) -> str | None:
        """DESIGN.md section 5 order; None means the default."""
        return (cell_choice or self._model_choice or self.model
                or os.environ.get("MOTORHEAD_MODEL") or None)

    def chat_model(self, cell_choice: str | None = None, temperature: float | None = None,
                   max_tokens: int | None = None) -> Any:
        from .llms import ModelUnavailable, resolve_model

        try:
            return resolve_model(self.model_choice(cell_choice), self.shell.user_ns,
                                 temperature=temperature, max_tokens=max_tokens or self.max_tokens)
        except ModelUnavailable as exc:
            raise UsageError(str(exc)) from None

    def summary_chat_model(self) -> Any:
        choice = self.summary_model or self.model_choice()
        from .llms import resolve_model

        return resolve_model(choice, self.shell.user_ns,
                             max_tokens=self.max_tokens or SUMMARY_MAX_TOKENS).model

    def current_prompt(self) -> Any:
        """None (the default prompt), a template string, or a LangChain prompt."""
        choice = self._prompt_choice or self.prompt
        if not choice:
            return None
        value = self.shell.user_ns.get(choice) if choice.isidentifier() else None
        return choice if value is None else value

    # -- the cell magic ------------------------------------------------------------------

    @cell_magic("motorhead")
    def motorhead_cell(self, line: str, cell: str) -> Any:
        """One chat turn; see ``%motorhead help``."""
        try:
            args = parsing.cell_parser().parse(line)
        except parsing.HelpShown:
            return None
        text = cell.strip("\r\n").rstrip()
        if not text.strip():
            raise UsageError("the %%motorhead cell is empty: write your message below the "
                             "%%motorhead line")
        session_id = args.session or self.current_session
        resolved = self.chat_model(args.model, args.temperature)
        prompt = self.current_prompt()
        stream = self.stream if args.stream is None else args.stream
        memory = self.memory
        live = _LiveReply(is_kernel(self.shell), list(self.panels), session_id)
        from .chain import run_turn
        from .display import Reply

        try:
            reply = run_turn(memory, session_id, text, resolved.model, prompt=prompt,
                             on_token=live.update if stream else None, stream=stream,
                             metadata={"model": resolved.label})
        except BaseException as exc:
            live.close(failed=True)
            if isinstance(exc, (KeyboardInterrupt, UsageError)) or self.traceback:
                raise
            if not isinstance(exc, Exception):
                raise
            raise UsageError(f"{type(exc).__name__}: {_one_line(exc)} (nothing was stored; "
                             "%config MotorheadMagics.traceback = True for details)") from None
        live.close(failed=False)
        result = Reply(reply, session_id=session_id, model=resolved.label)
        if args.output:
            self.shell.user_ns[args.output] = result
        return result

    # -- the line magic ------------------------------------------------------------------

    @no_var_expand
    @line_magic("motorhead")
    def motorhead_line(self, line: str) -> Any:
        """``%motorhead SUBCOMMAND``; see ``%motorhead help``."""
        name, rest = parsing.split_subcommand(line)
        if name in ("", "help", "--help", "-h"):
            print(parsing.overview())
            return None
        parser = parsing.subcommand_parser(name)
        if parser is None:
            raise UsageError(f"unknown subcommand {name!r}; one of: "
                             f"{', '.join(parsing.SUBCOMMANDS)} (see %motorhead help)")
        from . import subcommands

        try:
            if name == "prompt" and rest and not rest.startswith("-"):
                return subcommands.set_prompt_text(self, rest)
            args = parser.parse(rest)
            return getattr(subcommands, f"do_{name}")(self, args)
        except parsing.HelpShown:
            return None
        except MotorheadError as exc:
            raise UsageError(f"%motorhead {name}: {_one_line(exc)}") from None

    def describe_url(self) -> str:
        return redact(self.memory.url)
