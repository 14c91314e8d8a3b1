"""``%load_ext motorhead_magic``: the ``%%motorhead`` cell magic and ``%motorhead`` line
subcommands (DESIGN.md section 5).

Only the ``%config`` settings (traitlets) and the two entry points live here: the
notebook's state is a :class:`~.state.NotebookState`, each subcommand a registered
function in :mod:`.commands`, the chat turn :func:`~motorhead_magic.chat.turn.run_turn`.
Heavy modules (LangChain, pandas, widgets, llama.cpp) load on first use, so loading
the extension stays fast.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Dict, Int, TraitError, Unicode, observe, validate

from ..errors import MotorheadError, TurnInterrupted, did_you_mean
from ..memory import Memory, check_session_id
from ..memory.base import MAX_HITS
from .args import HelpShown, cell_parser
from .render import is_kernel
from .state import NotebookState, one_line


def _complete(shell: Any, event: Any) -> list[str]:
    from .commands.registry import completions

    return completions(event.line)


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
    recall = Int(0, min=0, max=MAX_HITS, help="Earlier messages (from before the window) most "
                 "relevant to each new message that its prompt also carries; 0: none "
                 "(a cell's --recall K wins).").tag(config=True)
    embeddings = Unicode(None, allow_none=True, help='Embedder for search by meaning: "local" '
                         '(offline MiniLM), "none", or a variable holding a LangChain Embeddings'
                         " (default: none; search and recall go by words).").tag(config=True)
    prices = Dict(help="Prices per 1,000 tokens for %motorhead usage's cost column: "
                  '{"model as the ledger names it": (input_price, output_price)}.'
                  ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # Before the traits are configured: the url validator already needs the state.
        self.state = NotebookState(self, shell.user_ns if shell is not None else {},
                                   kernel=is_kernel(shell))
        self._refused: UsageError | None = None
        super().__init__(shell=shell, **kwargs)
        if shell is not None:
            shell.events.register("post_run_cell", self._report_refused_config)
            for name in ("%motorhead", "%%motorhead"):
                shell.set_hook("complete_command", _complete, str_key=name)

    @observe("url", "window_size", "summary_model", "embeddings")
    def _backend_changed(self, change: dict[str, Any]) -> None:
        self.state.reconnect()

    def update_config(self, config: Any) -> None:
        """``%config MotorheadMagics.NAME = value``: an unknown name or a bad value fails
        the cell with one line (IPython's ``%config`` would only log it); see
        :meth:`_report_refused_config`."""
        section = config.get(type(self).__name__, {})
        names = self.trait_names(config=True)
        unknown = [name for name in section if name not in names]
        if unknown:
            self._refused = UsageError(
                f"MotorheadMagics has no setting {unknown[0]!r}{did_you_mean(unknown[0], names)}"
                f" (settings: {', '.join(sorted(names))})")
            return
        try:
            super().update_config(config)
        except TraitError as exc:
            self._refused = UsageError(f"%config MotorheadMagics: {one_line(exc)}")

    def _report_refused_config(self, result: Any) -> None:
        """After the cell: show a refused ``%config`` and mark the cell failed, so that
        Run All stops there as it does for any error."""
        refused, self._refused = self._refused, None
        if refused is not None and result is not None and result.error_in_exec is None:
            self.shell.show_usage_error(refused)
            result.error_in_exec = refused

    @validate("url")
    def _keep_the_password_out(self, proposal: dict[str, Any]) -> str | None:
        """``%config MotorheadMagics`` and saved notebooks show this trait: it holds the
        URL without its password, which the state keeps in this process only."""
        return self.state.remember_url(proposal["value"])

    # The state, as tests and scripts reach it from the magic.
    @property
    def memory(self) -> Memory:
        return self.state.memory

    @property
    def current_session(self) -> str:
        return self.state.session

    @property
    def panels(self) -> list[Any]:
        return self.state.panels

    def close(self) -> None:
        self.state.close()

    # -- the entry points --------------------------------------------------------------------

    @cell_magic("motorhead")
    def motorhead_cell(self, line: str, cell: str) -> Any:
        """One chat turn; see ``%motorhead help``."""
        try:
            args = cell_parser().parse(line)
        except HelpShown:
            return None
        text = cell.strip("\r\n").rstrip()
        if not text.strip():
            raise UsageError("the %%motorhead cell is empty: write your message below the "
                             "%%motorhead line")
        state = self.state
        session_id = state.session if args.session is None else args.session
        if args.compare is not None:
            return self._compare(args, session_id, text)
        try:
            check_session_id(session_id)
        except MotorheadError as exc:
            raise UsageError(f"%%motorhead --session: {one_line(exc)}") from None
        resolved = state.chat_model(args.model, args.temperature)
        prompt = state.prompt()
        stream = self.stream if args.stream is None else args.stream
        memory = state.memory
        from ..chat.turn import run_turn
        from .render import LiveReply, Reply

        recall = self.recall if args.recall is None else args.recall
        live = LiveReply(state.kernel, list(state.panels), session_id,
                         waiting_for=resolved.label, background=state.background_status)
        live.start()
        try:
            reply = run_turn(memory, session_id, text, resolved.model, prompt=prompt,
                             on_token=live.update if stream else None, stream=stream,
                             metadata={"model": resolved.label}, recall=recall,
                             on_note=live.note)
        except TurnInterrupted as exc:
            live.close(failed=True, interrupted=exc.partial)
            raise UsageError(str(exc)) from None
        except BaseException as exc:
            live.close(failed=True)
            if isinstance(exc, (KeyboardInterrupt, UsageError)) or self.traceback:
                raise
            if not isinstance(exc, Exception):
                raise
            raise UsageError(f"{type(exc).__name__}: {one_line(exc)} (nothing was stored; "
                             "%config MotorheadMagics.traceback = True for details)") from None
        live.close(failed=False)
        result = Reply(reply, session_id=session_id, model=resolved.label)
        if args.output:
            self.shell.user_ns[args.output] = result
        return result

    def _compare(self, args: Any, session_id: str, text: str) -> Any:
        """``%%motorhead --compare M1,M2``: the same input and memory to each model,
        side by side; nothing stored until ``%motorhead adopt``."""
        from ..chat.experiments import compare
        from .render import CompareView

        names = [name.strip() for name in args.compare.split(",") if name.strip()]
        view = CompareView(self.state.kernel, names)
        try:
            frame = compare(self.state.memory, session_id, text, {n: n for n in names},
                            prompt=self.state.prompt(), namespace=self.shell.user_ns,
                            on_token=view.update)
        except MotorheadError as exc:
            raise UsageError(f"%%motorhead --compare: {one_line(exc)}") from None
        view.finish(frame)
        self.state.last_comparison = frame
        if self.state.kernel:
            from IPython.display import display

            from .adopt import adopt_buttons

            def spent() -> None:
                self.state.last_comparison = None

            display(adopt_buttons(frame, self.state.memory, session_id, spent))
        if args.output:
            self.shell.user_ns[args.output] = frame
        return frame

    @no_var_expand
    @line_magic("motorhead")
    def motorhead_line(self, line: str) -> Any:
        """``%motorhead SUBCOMMAND``; see ``%motorhead help``."""
        from .commands import run_line

        return run_line(self.state, line)
