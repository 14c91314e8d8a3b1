"""Looking at the memory: the window and summary, the live panel, DataFrames."""

from __future__ import annotations

import argparse
from typing import Any

from ...memory import check_session_id
from ..state import NotebookState
from .registry import SESSION, arg, command, output


def session_of(state: NotebookState, args: argparse.Namespace) -> str:
    """``--session`` if given, else the bound session."""
    chosen = getattr(args, "session", None)
    return check_session_id(state.session if chosen is None else chosen)


@command("memory", "Show the running summary and the window of a session.", SESSION)
def memory(state: NotebookState, args: argparse.Namespace) -> Any:
    from ..render import MemoryReport

    session_id = session_of(state, args)
    return MemoryReport(state.memory.get(session_id), window_size=state.memory.window_size,
                        message_count=state.message_count(session_id))


@command("panel", "Open the live panel of a session (text in a terminal).", SESSION)
def panel(state: NotebookState, args: argparse.Namespace) -> Any:
    session_id = session_of(state, args)
    if not state.kernel:
        from ..panel import render_text

        print(render_text(state.memory, session_id))
        return None
    from ..panel import Panel

    def send(target: str, text: str) -> str:
        from ...chat.turn import run_turn

        resolved = state.chat_model()
        return run_turn(state.memory, target, text, resolved.model, prompt=state.prompt(),
                        stream=state.settings.stream,
                        on_token=lambda partial: widget.stream(target, partial),
                        metadata={"model": resolved.label}, recall=state.settings.recall)

    # The label is read at each render, so it follows %motorhead model.
    widget = Panel(state.memory, session_id, model_label=state.model_label, send=send)
    state.panels.append(widget)
    return widget


@command("export", "The messages (or summaries) as a pandas DataFrame.", SESSION,
         arg("--all", action="store_true", help="every session, not just one"),
         arg("--summaries", action="store_true", help="the summaries instead of the messages"),
         output("DataFrame"))
def export(state: NotebookState, args: argparse.Namespace) -> Any:
    session_id = None if args.all else session_of(state, args)
    frame = (state.memory.summaries_dataframe(session_id) if args.summaries
             else state.memory.to_dataframe(session_id))
    return stored_or_shown(state, frame, args.output)


@command("sessions", "Every session as a pandas DataFrame, most recently written first.",
         output("DataFrame"))
def sessions(state: NotebookState, args: argparse.Namespace) -> Any:
    frame = state.memory.sessions_dataframe()
    frame = frame.iloc[::-1].reset_index(drop=True)  # newest first, as the sidebar lists them
    return stored_or_shown(state, frame, args.output)


def stored_or_shown(state: NotebookState, frame: Any, output: str | None) -> Any:
    """``-o VAR`` stores the DataFrame quietly (as JupySQL's ``<<`` does); without it the
    DataFrame is the line's value and shows."""
    if output:
        state.user_ns[output] = frame
        return None
    return frame
